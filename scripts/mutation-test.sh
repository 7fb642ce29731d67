#!/usr/bin/env bash
# Mutation testing (issue 27 part 6): see scripts/mutation-test.py for what it does and its options.
# Resumable: results go to results/mutation/results.jsonl; a re-run skips mutants already recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/mutation-test.py "$@"
