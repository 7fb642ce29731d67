#!/usr/bin/env bash
# cli-fuzz.sh — the CLI property test at scale: thousands of seeded random argument vectors through the
# built `lab` (no trap, exit 0 or 2, one error line, no file outside the outputs). A failure prints its
# seed, case number and argv; rerun one seed with LAB_FUZZ_SEED=S LAB_FUZZ_CASES=N.
#
#   scripts/cli-fuzz.sh                 # 3000 cases: seeds 1..6 × 500
#   scripts/cli-fuzz.sh 4 250           # 4 seeds × 250 cases
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-6}
per=${2:-500}
swift build --build-tests >/dev/null
fail=0
for s in $(seq 1 "$seeds"); do
  out=$(LAB_FUZZ_SEED=$s LAB_FUZZ_CASES=$per swift test --skip-build --filter CLIPropertyTests.testRandomArgumentVectorsNeverTrapOrClobber 2>&1) || fail=1
  echo "$out" | grep -E '^(FAIL|SLOW|cli fuzz)' || true
done
if [ $fail -ne 0 ]; then echo "cli-fuzz: FAILURES (see above)"; exit 1; fi
echo "cli-fuzz: $((seeds * per)) cases, no failure"
