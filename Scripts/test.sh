#!/usr/bin/env bash
# The test command: installs what is missing, fetches the real checkpoints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh
eval "$(bash Scripts/fetch-models.sh)"
swift build --build-tests
swift test --skip-build
