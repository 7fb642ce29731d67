#!/usr/bin/env bash
# Points every citation of the TTT/baseline math at the repository's own docs/ and fixes stale paths.
# Idempotent (a second run changes nothing); run it after merging a branch that still cites the old
# reference spec:   scripts/rewrite-citations.sh && git diff --stat
#
# docs/ttt.md, docs/ttt-backward.md and docs/baselines.md keep the section numbers of the reference texts the
# code was written against, so a citation maps mechanically:
#   spec §N.M, ttt-spec.md §N.M          → docs/ttt.md §N.M
#   ttt-backward.md §N                    → docs/ttt-backward.md §N
#   baselines.md §N, baselines §N         → docs/baselines.md §N
#   ../shared/docs/<file>                 → docs/<file> (ttt-spec.md → ttt.md)
# Stale paths: Sources/Layers/Fast[/] (the no-grad paths are Sources/Layers/*/*Fused.swift),
# Sources/Layers/InnerModel.swift (now Sources/Layers/TTT/), and a Swift file whose header line
# "// Name.swift — …" names another file gets its own name.
# Files: tracked text files (.swift .md .csv .sh .txt) outside docs/ (whose links are relative to docs/), except
# this script and the link test (whose negative controls quote the old citations on purpose).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.swift' '*.md' '*.csv' '*.sh' '*.txt' \
                     | grep -v -e '^docs/' -e '^scripts/rewrite-citations.sh$' -e '^Tests/StudiesTests/DocumentationLinksTests.swift$' | while read -r f; do [ -f "$f" ] && echo "$f"; done)
changed=0
for f in "${files[@]}"; do
  # perl writes a temporary copy; the file is replaced only when its text changes, so an unchanged file keeps
  # its modification time (SwiftPM would otherwise rebuild it, or fail a build running meanwhile).
  tmp="$f.rewrite-citations.tmp"
  perl -CSD -Mutf8 -p -e '
    s{`\.\./shared/docs/ttt-spec\.md`}{[docs/ttt.md](docs/ttt.md)}g;
    s{`\.\./shared/docs/(ttt-backward|baselines)\.md`}{[docs/$1.md](docs/$1.md)}g;
    s{\.\./shared/docs/ttt-spec\.md}{docs/ttt.md}g;
    s{\.\./shared/docs/(ttt-backward|baselines)\.md}{docs/$1.md}g;
    s{(?<![\w/.-])ttt-spec\.md}{docs/ttt.md}g;
    s{(?<![\w/.-])(ttt-backward|baselines)\.md}{docs/$1.md}g;
    s{\bspec §}{docs/ttt.md §}g;
    s{\bbaselines §}{docs/baselines.md §}g;
    s{The spec\x27s gelu\x27 formula}{The gelu\x27 formula of docs/ttt.md §0}g;
    s{with the spec\x27s recipe}{with the recipe of docs/ttt.md §3}g;
    s{`Sources/Layers/Fast/?`}{`Sources/Layers/*/*Fused.swift`}g;
    s{Sources/Layers/InnerModel\.swift}{Sources/Layers/TTT/InnerModel.swift}g;
  ' "$f" > "$tmp"
  if [[ "$f" == *.swift ]]; then
    base=$(basename "$f")
    perl -CSD -Mutf8 -pi -e 'if ($. == 1) { s{^// (?!\Q'"$base"'\E )[A-Za-z0-9_+]+\.swift — }{// '"$base"' — } }' "$tmp"
  fi
  if cmp -s "$f" "$tmp"; then rm -f "$tmp"
  else chmod --reference="$f" "$tmp"; mv "$tmp" "$f"; echo "rewrote $f"; changed=$((changed + 1)); fi
done
echo "rewrite-citations: $changed file(s) changed"
left=$(grep -rnE '\.\./shared|(^|[^/])\b(ttt-spec\.md|spec §)' -- "${files[@]}" || true)
if [ -n "$left" ]; then echo "$left" >&2; echo "rewrite-citations: citations left (above): add a rule" >&2; exit 1; fi
