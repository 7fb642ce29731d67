#!/usr/bin/env bash
# Optional check, not part of CI: trains a few steps of each exportable micro model, exports it, and compares
# `lab logits` with the official loaders' logits (ttt-lm-pytorch TTTForCausalLM, transformers 4.46.3
# LlamaForCausalLM and MambaForCausalLM), printing the max |Δ| per model.
# Needs the corpus (lab data fetch), network for pip (torch from PyPI is large) and for cloning ttt-lm-pytorch.
#   scripts/hf-compare.sh [DATA_DIR]        (VENV, TTT_REPO, WORK override the scratch locations)
# scripts/make-golden.sh uses the same setup to write the fixtures CI checks without Python (Tests/Fixtures/golden/).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-data}"
VENV="${VENV:-/tmp/ttt-lab-hf-venv}"
TTT_REPO="${TTT_REPO:-/tmp/ttt-lm-pytorch}"
WORK="${WORK:-$(mktemp -d)}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import torch, transformers, safetensors, numpy" 2>/dev/null \
  || "$VENV/bin/pip" install -q torch transformers==4.46.3 safetensors numpy
[ -d "$TTT_REPO" ] || git clone -q https://github.com/test-time-training/ttt-lm-pytorch "$TTT_REPO"
swift build -c release --product lab
LAB="$PWD/.build/release/lab"
runs=()
for layer in ttt-linear ttt-mlp ttt-linear-m ttt-mlp-m attention mamba; do
  "$LAB" train --layer "$layer" --preset micro --steps 20 --batch 4 --context 64 --eval-windows 4 --no-chart \
    --data "$DATA" --out "$WORK/run-$layer" >/dev/null
  runs+=("$WORK/run-$layer")
done
"$VENV/bin/python" scripts/hf_compare.py --official --lab "$LAB" --ttt-repo "$TTT_REPO" --work "$WORK" "${runs[@]}"
