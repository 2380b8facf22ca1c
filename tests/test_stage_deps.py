"""dvc.yaml declares exactly the package modules each stage's script imports.

A stage that misses a module it imports keeps a stale output when that module changes; a
stage that lists one it does not import re-runs for nothing. The import closure is read
from the sources (aetasc.identity, the same walk that fingerprints the training code).
"""
import ast
import re
from pathlib import Path

import yaml

from aetasc.identity import PACKAGE, _module_file, training_modules

REPO = Path(__file__).resolve().parents[1]


def stage_modules(script: Path) -> set[str]:
    """Every source file of the package that `script` imports, transitively, with the
    __init__.py of each package on the way (Python runs them on import)."""
    names = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and re.match(r"aetasc(\.|$)", node.module):
            base = node.module.removeprefix("aetasc").lstrip(".")
            names.add(base)
            names.update(f"{base}.{a.name}".lstrip(".") for a in node.names)   # from aetasc.data import x
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix("aetasc").lstrip(".") for a in node.names
                         if re.match(r"aetasc(\.|$)", a.name))
    files = {f for n in names if _module_file(n) is not None for f in training_modules(n)}
    for f in list(files):
        for parent in f.parents:
            if parent == PACKAGE.parent:
                break
            files.add(parent / "__init__.py")
    return {str(f.relative_to(REPO)) for f in files if f.is_file()}


def stages() -> dict[str, dict]:
    """Each stage of dvc.yaml (a foreach stage once: its items share the command's script)."""
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_every_stage_depends_on_exactly_the_modules_it_imports():
    for name, stage in stages().items():
        body = stage.get("do", stage)
        script = re.search(r"python (stages/\w+\.py)", body["cmd"]).group(1)
        declared = [d for d in body["deps"] if d.startswith("src/")]
        assert all(d.endswith(".py") for d in declared), f"{name}: list modules, not folders: {declared}"
        assert len(declared) == len(set(declared)), f"{name}: a module is listed twice"
        imported = stage_modules(REPO / script)
        assert set(declared) == imported, (f"{name}: missing {sorted(imported - set(declared))}, "
                                           f"not imported {sorted(set(declared) - imported)}")
        assert script in body["deps"], f"{name}: its own script {script} is not a dependency"


def test_the_closure_follows_relative_and_package_imports(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text("from aetasc.data import synthetic\nimport aetasc.report\n")
    found = stage_modules(script)
    assert {"src/aetasc/data/synthetic.py", "src/aetasc/data/__init__.py", "src/aetasc/__init__.py",
            "src/aetasc/config.py", "src/aetasc/report.py", "src/aetasc/stats.py"} <= found
    assert "src/aetasc/train.py" not in found
