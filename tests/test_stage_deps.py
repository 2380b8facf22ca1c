"""dvc.yaml declares exactly the package modules each stage's script imports.

A stage that misses a module it imports keeps a stale output when that module changes; a
stage that lists one it does not import re-runs for nothing. `python -m tools.dvc_deps`
writes the lists from the import closure (aetasc.training.identity, the same walk that
fingerprints the training code).
"""
import re
from pathlib import Path

import yaml

from tools.dvc_deps import generate, stage_modules

REPO = Path(__file__).resolve().parents[1]


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
        imported = set(stage_modules(REPO / script))
        assert set(declared) == imported, (f"{name}: missing {sorted(imported - set(declared))}, "
                                           f"not imported {sorted(set(declared) - imported)}")
        assert script in body["deps"], f"{name}: its own script {script} is not a dependency"


def test_the_generator_changes_nothing_in_the_committed_dvc_yaml():
    text = (REPO / "dvc.yaml").read_text()
    assert generate(text) == text, "dvc.yaml's module lists are stale: run `python -m tools.dvc_deps`"


def test_the_generator_rewrites_a_stale_list_and_keeps_every_other_line(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "s.py").write_text("from aetasc import stats\n")
    text = ("stages:\n  s:  # a comment\n    cmd: python stages/s.py\n    deps:\n      - stages/s.py\n"
            "      - src/aetasc/gone.py\n      - data/x\n    outs:\n      - y\n")
    new = generate(text, tmp_path)
    assert new == text.replace("      - src/aetasc/gone.py\n", "      - src/aetasc/__init__.py\n"
                               "      - src/aetasc/stats.py\n")
    assert generate(new, tmp_path) == new


def test_the_closure_follows_relative_and_package_imports(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text("from aetasc.data import synthetic\nimport aetasc.analysis.report\n")
    found = set(stage_modules(script))
    assert {"src/aetasc/data/synthetic.py", "src/aetasc/data/__init__.py", "src/aetasc/__init__.py",
            "src/aetasc/config.py", "src/aetasc/analysis/report.py", "src/aetasc/analysis/__init__.py",
            "src/aetasc/stats.py"} <= found
    assert "src/aetasc/training/trainer.py" not in found


def resolved_stages() -> dict[str, dict]:
    """Every stage as DVC expands it: a foreach stage once per item, `${item}`, `${item.x}`
    and `${key}` filled in (`${world}` left as written: it is the same in every entry)."""
    out = {}
    for name, stage in stages().items():
        if "foreach" not in stage:
            out[name] = stage
            continue
        items = stage["foreach"]
        items = items.items() if isinstance(items, dict) else ((i, i) for i in items)
        for key, item in items:
            text = yaml.safe_dump(stage["do"]).replace("${key}", str(key))
            if isinstance(item, dict):
                for k, v in item.items():
                    text = text.replace("${item.%s}" % k, str(v))
            else:
                text = text.replace("${item}", str(item))
            out[f"{name}@{key}"] = yaml.safe_load(text)
    return out


def test_no_stage_lists_a_dependency_or_param_twice():
    for name, stage in resolved_stages().items():
        for field in ("deps", "params"):
            entries = [e if isinstance(e, str) else yaml.safe_dump(e) for e in stage.get(field, [])]
            assert len(entries) == len(set(entries)), f"{name}: {field} listed twice: " \
                f"{sorted({e for e in entries if entries.count(e) > 1})}"


def test_training_stages_depend_on_alpha_exactly_when_they_train_at_it():
    from aetasc.config import load_params
    from aetasc.experiments.grid import ALPHA_PARAM, FIGURES, figure_points
    params = load_params(REPO / "params.yaml")
    by_figure = {re.search(r"--figure (\w+)", s["cmd"]).group(1): s for s in resolved_stages().values()
                 if "train_figure.py" in s["cmd"]}
    assert set(by_figure) == set(FIGURES) | {"baselines"}
    for figure, stage in by_figure.items():
        uses_alpha = any(p.alpha == ALPHA_PARAM for p in figure_points(figure, params))
        assert ("alpha" in stage["params"]) == uses_alpha, figure
        own = [p for p in stage["params"] if p.startswith("worlds.${world}.figures.")]
        assert own, f"{figure}: depends on no figure params"
