#!/usr/bin/env bash
# Writes the golden fixtures Tests/Fixtures/golden/ from the official implementations (not part of CI; CI only
# reads them, in Tests/ModelsTests/GoldenFixtureTests.swift, without Python). Run it when the official code or
# the fixture set changes, and commit the result (≈ 1 MiB):
#   ttt-lm-pytorch (ttt.py, at the pinned commit below): TTTLinear and TTTMLP layers on both backbones
#     (Transformer; Mamba = share_qk + conv_q/conv_k + use_gate) with a partial last mini-batch — input, weights,
#     output, dL/dx and dL/dparams — and TTTForCausalLM (ttt-linear; ttt-mlp with pre_conv) — logits, loss, dL/dparams;
#   transformers 4.46.3: LlamaForCausalLM and MambaForCausalLM — logits, loss, dL/dparams.
# The official code runs in float64 on F32 weights and inputs; the results are stored as F32. Versions (torch,
# transformers, the ttt-lm-pytorch commit) go into every fixture's metadata and into versions.json.
# Needs PyPI (torch, transformers==4.46.3, safetensors, numpy) and a clone of ttt-lm-pytorch; the same scratch
# locations as scripts/hf-compare.sh:
#   scripts/make-golden.sh              (VENV, TTT_REPO override the scratch locations; OUT the fixture folder)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-/tmp/ttt-lab-hf-venv}"
TTT_REPO="${TTT_REPO:-/tmp/ttt-lm-pytorch}"
TTT_COMMIT=cd831db10c8c9a0f6340f02da5613316a8a92b67       # ttt-lm-pytorch main, the commit the fixtures come from
OUT="${OUT:-Tests/Fixtures/golden}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import torch, transformers, safetensors, numpy" 2>/dev/null \
  || "$VENV/bin/pip" install -q torch transformers==4.46.3 safetensors numpy
[ "$("$VENV/bin/python" -c 'import transformers; print(transformers.__version__)')" = 4.46.3 ] \
  || { echo "make-golden: $VENV has transformers $("$VENV/bin/python" -c 'import transformers; print(transformers.__version__)'); the fixtures use 4.46.3 — pip install transformers==4.46.3 there" >&2; exit 2; }
[ -d "$TTT_REPO" ] || git clone -q https://github.com/test-time-training/ttt-lm-pytorch "$TTT_REPO"
if [ "$(git -C "$TTT_REPO" rev-parse HEAD)" != "$TTT_COMMIT" ]; then
  git -C "$TTT_REPO" checkout -q "$TTT_COMMIT" \
    || { echo "make-golden: $TTT_REPO cannot check out $TTT_COMMIT — fetch it there (git -C $TTT_REPO fetch origin)" >&2; exit 2; }
fi
rm -rf "$OUT.tmp"
"$VENV/bin/python" scripts/make_golden.py --ttt-repo "$TTT_REPO" --ttt-commit "$TTT_COMMIT" --out "$OUT.tmp"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "check them: swift test --filter GoldenFixtureTests"
