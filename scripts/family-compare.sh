#!/usr/bin/env bash
# Optional check, not part of CI: the family plugins (gla, gated-deltanet, lact) against the public reference
# implementations — FLA's naive recurrences (github.com/fla-org/flash-linear-attention, fla/ops/*/naive.py)
# and the LaCT authors' code (github.com/a1600012888/LaCT, lact_llm/lact_model/ttt_operation.py) — on the
# same random inputs; prints max |Δ| and max |Δ| / max |ref| per case; exit status 1 above 1e-4.
# Needs network for pip (torch, einops, numpy) and git clone, unless VENV, FLA_REPO, LACT_REPO already exist.
#   scripts/family-compare.sh          (VENV, FLA_REPO, LACT_REPO, WORK override the scratch locations)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-/tmp/ttt-lab-family-venv}"
FLA_REPO="${FLA_REPO:-/tmp/flash-linear-attention}"
LACT_REPO="${LACT_REPO:-/tmp/LaCT}"
WORK="${WORK:-$(mktemp -d)}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import torch, einops, numpy" 2>/dev/null || "$VENV/bin/pip" install -q torch einops numpy
[ -d "$FLA_REPO" ] || git clone -q --depth 1 https://github.com/fla-org/flash-linear-attention "$FLA_REPO"
[ -d "$LACT_REPO" ] || git clone -q --depth 1 https://github.com/a1600012888/LaCT "$LACT_REPO"
"$VENV/bin/python" scripts/family_compare.py --fla "$FLA_REPO" --lact "$LACT_REPO" --work "$WORK"
