"""Write each dvc.yaml stage's module dependencies from its script's imports.

    python -m tools.dvc_deps           # rewrite dvc.yaml in place
    python -m tools.dvc_deps --check   # exit 1, naming the stages, if dvc.yaml is out of date

A stage that misses a module it imports keeps a stale output when that module changes; one
that lists a module it does not import re-runs for nothing. The modules a script imports
are read from the sources, transitively (the same walk that fingerprints the training
code, aetasc.training.identity), with the `__init__.py` of every package on the way (Python
runs them on import). In dvc.yaml they follow the stage's own `- stages/<script>.py` line;
every other line is left as written.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

from aetasc.training.identity import PACKAGE, module_file, training_modules

REPO = PACKAGE.parents[1]
SCRIPT_LINE = re.compile(r"^(\s*)- (stages/\w+\.py)\s*$")
MODULE_LINE = re.compile(r"^\s*- src/\S+\.py\s*$")


def stage_modules(script: Path) -> list[str]:
    """Every source file of the package that `script` imports, transitively, with the
    __init__.py of each package on the way, as paths relative to the repository."""
    names = set()
    for node in ast.walk(ast.parse(script.read_text(), str(script))):
        if isinstance(node, ast.ImportFrom) and node.module and re.match(r"aetasc(\.|$)", node.module):
            base = node.module.removeprefix("aetasc").lstrip(".")
            names.add(base)
            names.update(f"{base}.{a.name}".lstrip(".") for a in node.names)   # from aetasc.data import x
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix("aetasc").lstrip(".") for a in node.names
                         if re.match(r"aetasc(\.|$)", a.name))
    files = {f for n in names if module_file(n) is not None for f in training_modules(n)}
    for f in list(files):
        for parent in f.parents:
            if parent == PACKAGE.parent:
                break
            files.add(parent / "__init__.py")
    return sorted(str(f.relative_to(REPO)) for f in files if f.is_file())


def generate(text: str, repo: Path = REPO) -> str:
    """dvc.yaml's text with the module lines after each script line written anew."""
    out, lines, i = [], text.splitlines(keepends=True), 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        m = SCRIPT_LINE.match(line)
        if not m:
            continue
        while i < len(lines) and MODULE_LINE.match(lines[i]):
            i += 1
        out.extend(f"{m.group(1)}- {module}\n" for module in stage_modules(repo / m.group(2)))
    return "".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dvc-yaml", type=Path, default=REPO / "dvc.yaml")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if dvc.yaml is out of date")
    args = ap.parse_args(argv)
    text = args.dvc_yaml.read_text()
    new = generate(text, args.dvc_yaml.parent)
    if new == text:
        print(f"{args.dvc_yaml}: module dependencies up to date")
        return 0
    if args.check:
        print(f"{args.dvc_yaml}: module dependencies out of date; run `python -m tools.dvc_deps`", file=sys.stderr)
        return 1
    args.dvc_yaml.write_text(new)
    print(f"{args.dvc_yaml}: module dependencies rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
