#!/bin/bash
# Optional (not CI): the lab's tiny attention LM beside Hugging Face LlamaForCausalLM (PyTorch CPU eager, SDPA) at the
# same shape and thread count, alternating ROUNDS times so both see the same machine.
# Usage: scripts/torch-tiny-bench.sh [PYTHON] [THREADS] [ROUNDS]   (PYTHON: a venv with torch and transformers)
set -euo pipefail
PY=${1:-python3}; THREADS=${2:-2}; ROUNDS=${3:-3}
LAB=${LAB:-.build/release/lab}
[ -x "$LAB" ] || { echo "error: $LAB not found — build with: swift build -c release (or set LAB=path)" >&2; exit 2; }
"$PY" -c "import torch, transformers" 2>/dev/null || { echo "error: $PY lacks torch/transformers — pass a venv's python" >&2; exit 2; }
for r in $(seq "$ROUNDS"); do
  LAB_THREADS=$THREADS "$LAB" bench train --layers none --lm-layers attention --memory-layers none --models none --no-reference --seconds 2 \
    | grep -E "^attention" | sed "s/^/lab round $r: /"
  OMP_NUM_THREADS=$THREADS "$PY" "$(dirname "$0")/torch_tiny_bench.py" "$THREADS" 5 | sed "s/^/torch round $r: /"
done
