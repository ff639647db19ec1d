#!/usr/bin/env bash
# The main job: installs what is missing, builds Scion in release mode, reports the machine, then runs
# the lifecycle demo: pretrain a small GPT-2 on the embedded synthetic corpus (about two minutes on
# 2 cores), evaluate it, generate a sample from the saved model, and point to the HTML report.
# Later stages (grow, fine-tune, compress) join here as they land. `scion demo` (the MLP) still exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh
swift build -c release --product scion
scion=.build/release/scion
$scion doctor
echo
echo "== pretrain: scion train --config Examples/demo.yaml =="
$scion train --config Examples/demo.yaml --overwrite "$@"
echo
echo "== evaluate: validation loss vs. the corpus's unigram entropy =="
# The summary holds the validation loss and the unigram entropy of the corpus (the baseline to beat).
grep -E '"(validationLoss|validationPerplexity|unigramEntropy)"' runs/demo/summary.json | tr -d ' ,'
echo
echo "== generate: scion generate --model runs/demo/model =="
$scion generate --model runs/demo/model --prompt "Mira says that" --max-tokens 48 --temperature 0.7 --seed 1
echo
echo
echo "report: $(pwd)/runs/demo/report.html (open it in a browser)"
