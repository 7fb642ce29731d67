#!/usr/bin/env bash
# The Plugins/README.md walk-through, end to end (CI runs it): scaffold a plugin with a temporary
# name, build, see it in `lab layers`, run `lab plugin check` and its test, delete its gradient and add
# a decay gate and check it again, then `lab plugin remove`
# it and rebuild. A trap restores Package.swift and Sources/Zoo/InnerModelList.swift (the two files
# `plugin new` edits) and deletes the folder on any exit, so the tree is left as it was even when a
# step fails.
#
# Usage: scripts/plugin-walkthrough.sh [NAME]     (default: a unique Walkthrough<pid>)
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-Walkthrough$$}"
dir="Plugins/$name"
if [ -e "$dir" ]; then echo "plugin-walkthrough: $dir already exists; pass another NAME" >&2; exit 2; fi
list=Sources/Zoo/InnerModelList.swift
backup="$(mktemp)"; listBackup="$(mktemp)"
cp Package.swift "$backup"; cp "$list" "$listBackup"
cleanup() {
  status=$?
  rm -rf "$dir"
  cmp -s "$backup" Package.swift || cp "$backup" Package.swift
  cmp -s "$listBackup" "$list" || cp "$listBackup" "$list"
  rm -f "$backup" "$listBackup"
  # Rebuild without the plugin so .build/debug/lab matches the tree again.
  swift build >/dev/null 2>&1 || true
  exit $status
}
trap cleanup EXIT INT TERM

step() { echo; echo "+ $*"; "$@"; }
swift build >/dev/null
step .build/debug/lab plugin new "$name"
grep -q "^    $name\.${name}Inner\.self,\$" "$list" || { echo "plugin-walkthrough: $name missing from $list" >&2; exit 1; }
kebab="$(sed -n 's/.*public static let name = "\(.*\)".*/\1/p' "$dir/${name}Inner.swift")"
step swift build
# Captured first: `lab layers | grep -q` fails under pipefail when grep exits before lab has written it all (SIGPIPE).
layers="$(.build/debug/lab layers --width 64 --heads 4 --context 256)"
grep -q "ttt-$kebab " <<<"$layers" || { echo "plugin-walkthrough: ttt-$kebab missing from lab layers" >&2; exit 1; }
echo "lab layers lists ttt-$kebab"
step .build/debug/lab plugin check "$kebab"
step swift build --build-tests
step swift test --skip-build --filter "${name}Tests"
# Contract v2 as a new user tries it: delete the hand-written gradient (the lab derives it, exact in
# outer training) and declare a decay gate; the plugin must still pass every check.
sed -i '/public static func gradient(/,/^    }$/d' "$dir/${name}Inner.swift"
sed -i 's/^\(    public static let defaultBaseLR: Float = 1.0\)$/\1\n    public static let features = InnerFeatures(decayGate: true)/' "$dir/${name}Inner.swift"
grep -q "func gradient(" "$dir/${name}Inner.swift" && { echo "plugin-walkthrough: gradient not deleted" >&2; exit 1; }
grep -q "decayGate: true" "$dir/${name}Inner.swift" || { echo "plugin-walkthrough: decay gate not added" >&2; exit 1; }
step swift build
echo; echo "+ .build/debug/lab plugin check $kebab"
report="$(.build/debug/lab plugin check "$kebab")"
echo "$report"
grep -q "derived from forward (create-graph)" <<<"$report" \
  || { echo "plugin-walkthrough: outer gradients of the forward-only plugin not checked" >&2; exit 1; }
step .build/debug/lab plugin remove "$name"
cmp -s "$backup" Package.swift || { echo "plugin-walkthrough: Package.swift differs after remove" >&2; exit 1; }
cmp -s "$listBackup" "$list" || { echo "plugin-walkthrough: $list differs after remove" >&2; exit 1; }
echo
echo "plugin-walkthrough: $name scaffolded, built, listed, checked, tested and removed"
