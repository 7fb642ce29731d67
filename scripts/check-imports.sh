#!/usr/bin/env bash
# Every target declares what it imports: a Swift file that imports a module of this package (a target) or of
# one of its package dependencies (a product's module) must belong to a target that lists that module as a
# direct dependency in Package.swift. System modules (Foundation, XCTest, Glibc, Dispatch, …) are not checked.
# SwiftPM's own `--explicit-target-dependency-import-check error` does nothing on Linux with this toolchain
# (Swift 6.3), so this script reads the manifest with `swift package dump-package` and greps the imports.
#   scripts/check-imports.sh            # exit 0, or one line per undeclared import and exit 1
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=$(swift package dump-package 2>/dev/null)
python3 - "$manifest" <<'PY'
import json, os, re, sys
m = json.loads(sys.argv[1])
targets = {t["name"]: t for t in m["targets"]}
# Modules a target may import only when declared: this package's non-plugin targets and the products of
# its package dependencies (a product's module bears the product's name, e.g. ArgumentParser).
package_modules = {n for n, t in targets.items() if t["type"] != "plugin"}
product_modules = set()
for t in targets.values():
    for dep in t["dependencies"]:
        if "product" in dep:
            product_modules.add(dep["product"][0])
checked = package_modules | product_modules
imp = re.compile(r"^\s*(?:@[A-Za-z_]+(?:\([^)]*\))?\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)
bad = []
for name, t in sorted(targets.items()):
    if t["type"] in ("system", "plugin"):
        continue
    default_root = "Tests" if t["type"] == "test" else "Sources"
    root = t.get("path") or os.path.join(default_root, name)
    excluded = {os.path.normpath(os.path.join(root, e)) for e in t.get("exclude", [])}
    declared = set()
    for dep in t["dependencies"]:
        kind, value = next(iter(dep.items()))
        declared.add(value[0])
    for dirpath, dirnames, files in os.walk(root):
        # A nested folder that is another target's path (e.g. Plugins/X/Tests) belongs to that target.
        dirnames[:] = [d for d in dirnames
                       if os.path.normpath(os.path.join(dirpath, d)) not in excluded
                       and all(os.path.normpath(os.path.join(dirpath, d)) != os.path.normpath(o.get("path") or "")
                               for o in targets.values())]
        for f in sorted(files):
            if not f.endswith(".swift"):
                continue
            path = os.path.join(dirpath, f)
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            # Text inside a multi-line string literal (a template `lab plugin new` writes) is not an import.
            text = re.sub(r'"""[\s\S]*?"""', '""', text)
            for mod in sorted(set(imp.findall(text))):
                if mod in checked and mod != name and mod not in declared:
                    bad.append(f"{path}: imports {mod}, which target {name} does not declare "
                               f"(add \"{mod}\" to its dependencies in Package.swift)")
for line in bad:
    print(line)
sys.exit(1 if bad else 0)
PY
