#!/usr/bin/env bash
# The test command (README, .ci/run): the code must type-check, lint (the layering
# rules included) and be formatted; native TensorFlow must be there; the code must
# build (integration tests run the real CLI from dist/); then jest runs everything,
# its global setup starting and stopping a test Kafka broker. Arguments go to jest
# (`npm test -- path`), and then the static checks are skipped: they are whole-tree.
set -euo pipefail
cd "$(dirname "$0")/.."
export TILLCAST_REQUIRE_NATIVE_TF=1
bash scripts/provision-tensorflow.sh
# test/deployment.test.ts validates the compose files with docker-compose; when it cannot be
# installed here that test fails with the reason, the rest still runs.
bash scripts/ensure-docker-compose.sh || echo "[test] docker-compose unavailable: test/deployment.test.ts will fail" >&2
if [ "$#" -eq 0 ]; then
  echo "[test] static checks: typecheck, lint, format" >&2
  npm run -s typecheck
  npm run -s lint
  npm run -s format:check
fi
npm run -s build
exec npx jest "$@"
