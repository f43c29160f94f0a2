#!/usr/bin/env bash
# The test command (README, .ci/run): native TensorFlow must be there, the code
# must build (integration tests run the real CLI from dist/), then jest runs
# everything; its global setup starts and stops a test Kafka broker.
set -euo pipefail
cd "$(dirname "$0")/.."
export TILLCAST_REQUIRE_NATIVE_TF=1
bash scripts/provision-tensorflow.sh
# test/deployment.test.ts validates the compose files with docker-compose; when it cannot be
# installed here that test fails with the reason, the rest still runs.
bash scripts/ensure-docker-compose.sh || echo "[test] docker-compose unavailable: test/deployment.test.ts will fail" >&2
npm run -s build
exec npx jest "$@"
