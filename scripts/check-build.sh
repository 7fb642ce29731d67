#!/usr/bin/env bash
# CI's build checks, run by the README's test command before `swift test` (which then reuses this build):
#   1. `swift build --build-tests` compiles with no warning in the package's own sources (a warning in a
#      fetched dependency under .build/ is not ours and is ignored). The compiler reports a file's warnings
#      only when it compiles it, so the check is complete on a clean clone (CI) and covers what changed on
#      an incremental build; `swift package clean` first to see every warning.
#   2. every target declares what it imports (scripts/check-imports.sh).
#   scripts/check-build.sh              # exit 0, or the warnings / undeclared imports and exit 1
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift build --build-tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
[ "$status" = 0 ] || { echo "check-build: swift build --build-tests failed (status $status)" >&2; exit "$status"; }
root=$(pwd -P)
warnings=$(grep -E '^[^ ]+\.swift:[0-9]+:[0-9]+: warning:|^[^ ]+\.[ch]:[0-9]+:[0-9]+: warning:' "$log" \
           | grep -v -e "^$root/.build/" -e '^\.build/' | sort -u)
if [ -n "$warnings" ]; then
  echo "$warnings" >&2
  echo "check-build: $(echo "$warnings" | wc -l) compiler warning(s) in the package's sources; fix them (CI allows none)" >&2
  exit 1
fi
scripts/check-imports.sh || { echo "check-build: undeclared imports (above)" >&2; exit 1; }
echo "check-build: no warnings, every import declared"
