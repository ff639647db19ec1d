#!/usr/bin/env bash
# The main job: installs what is missing, builds Scion in release mode, reports the machine and
# runs the engine demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh
swift build -c release --product scion
.build/release/scion doctor
.build/release/scion demo
