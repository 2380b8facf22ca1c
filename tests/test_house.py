"""The shape of the house: layers that import only downward, one error base, one boundary.

docs/design.md gives the layer order and why; these tests keep the code to it.
"""
import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aetasc.errors import AetascError

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "aetasc"
# Lowest first: a module may import from its own layer and the layers before it.
LAYERS = [
    {"config", "errors", "io", "progress", "stats"},
    {"data"},
    {"features"},
    {"training"},        # below events: the ranking's tagger is itself a training run
    {"events"},
    {"experiments"},
    {"planning"},
    {"analysis"},
]


def layer_of(dotted: str) -> int:
    first = dotted.split(".")[0]
    for i, names in enumerate(LAYERS):
        if first in names:
            return i
    raise AssertionError(f"aetasc.{dotted} belongs to no layer of tests/test_house.py")


def package_imports(path: Path):
    """(line, imported name) for every import of an `aetasc` or `tools` module in a file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("aetasc", "tools"):
                yield node.lineno, name


def modules():
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p != PACKAGE / "__init__.py"]


def test_every_import_in_the_package_goes_down_a_layer_or_stays_in_its_own():
    upward = []
    for path in modules():
        rel = path.relative_to(PACKAGE).with_suffix("")
        own = layer_of(".".join(rel.parts))
        for line, name in package_imports(path):
            if name.startswith("tools"):
                upward.append(f"{rel}:{line} imports {name}: tools/ is outside the package")
            elif name != "aetasc" and layer_of(name.removeprefix("aetasc.")) > own:
                upward.append(f"{rel}:{line} imports {name}")
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    # The check above must be able to fail: the same walk on a training module that imports the report.
    fake = tmp_path / "trainer.py"
    fake.write_text("from aetasc.training.model import MultiTaskNet\nfrom aetasc.analysis.report import render\n")
    found = [name for _, name in package_imports(fake) if layer_of(name.removeprefix("aetasc.")) > layer_of("training")]
    assert found == ["aetasc.analysis.report"]


def test_no_module_is_over_500_lines_without_saying_why():
    long = []
    for path in [*modules(), *sorted((REPO / "tools").glob("*.py")), *sorted((REPO / "stages").glob("*.py"))]:
        lines = path.read_text().count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > 520 and "500 lines" not in doc:      # e.g. "one module over 500 lines because ..."
            long.append(f"{path.relative_to(REPO)}: {lines} lines")
    assert not long, "modules over ~500 lines whose docstring gives no reason:\n" + "\n".join(long)


def our_exception_classes():
    import importlib
    found = []
    for path in modules():
        name = "aetasc." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, BaseException):
                found.append(cls)
    return found


def test_every_error_class_of_the_package_derives_from_the_one_base():
    classes = our_exception_classes()
    assert len(classes) >= 15
    # Busy is flow control inside the run store (a run another process is training), never shown.
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes
              if not issubclass(c, AetascError) and c.__name__ not in ("Busy", "_Transient")]
    assert not strays, f"error classes outside AetascError: {strays}"


def test_every_stage_script_runs_its_main_inside_the_error_boundary():
    for script in sorted((REPO / "stages").glob("*.py")):
        tree = ast.parse(script.read_text())
        guard = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
        assert guard and ast.unparse(guard[0].body[0]) == "run_stage(main)", \
            f"{script.name}: its `if __name__ == '__main__'` must call run_stage(main)"


@pytest.mark.parametrize("script", ["acquire_asc.py", "train_figure.py"])
def test_a_bad_params_value_prints_a_message_naming_the_key_not_a_traceback(tmp_path, script):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["worlds"]["synthetic"]["source"]["sample_rate"] = "fast"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    args = ["--figure", "fig2"] if script == "train_figure.py" else []
    proc = subprocess.run([sys.executable, str(REPO / "stages" / script), *args], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "sample_rate" in proc.stderr and "params.yaml" in proc.stderr
    assert proc.stderr.startswith(Path(script).stem)
    assert len(proc.stderr.strip().splitlines()) <= 4, proc.stderr
    assert not (tmp_path / "data").exists()          # nothing was written before the check


def test_a_bug_keeps_its_traceback(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text("from aetasc.errors import run_stage\n\ndef main():\n    raise KeyError('bug')\n\n"
                      "if __name__ == '__main__':\n    run_stage(main)\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "KeyError" in proc.stderr


def test_the_package_version_is_pyprojects():
    import tomllib

    import aetasc
    assert aetasc.__version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
