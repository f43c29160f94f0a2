#!/usr/bin/env bash
# The test command (README, .ci/run): native TensorFlow must be there, the code
# must build (integration tests run the real CLI from dist/), then jest runs
# everything; its global setup starts and stops a test Kafka broker.
set -euo pipefail
cd "$(dirname "$0")/.."
export TILLCAST_REQUIRE_NATIVE_TF=1
bash scripts/provision-tensorflow.sh
npm run -s build
exec npx jest "$@"
