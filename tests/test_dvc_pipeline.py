"""The whole DVC graph on the tiny configuration, as `dvc repro` runs it."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, tiny_raw_params

FIGURES = ("baselines", "fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers")


def _run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh DVC project holding this pipeline, with the tiny params."""
    root = tmp_path_factory.mktemp("repo")
    for name in ("dvc.yaml", "stages", "src"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_raw_params(), sort_keys=False))
    (root / ".gitignore").write_text("/data/\n__pycache__/\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    dvc = str(Path(sys.executable).parent / "dvc")
    for cmd in (["git", "init", "-q"], [dvc, "init", "-q"], [dvc, "config", "core.analytics", "false"]):
        _run(cmd, root, env)
    out = _run([dvc, "repro"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "repro"], root, env)
    return root, env, dvc, out


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.mark.slow
def test_dvc_repro_builds_every_figure_and_the_report(repo):
    root, env, dvc, out = repo
    assert {f"train@{f}" for f in FIGURES} | {"plot", "report", "rank_events", "make_subsets"} <= _stages_run(out)
    for f in FIGURES:
        summary = json.loads((root / "metrics" / f"{f}.json").read_text())
        assert summary["world"] == "synthetic" and summary["points"]
    for png in ("fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers"):
        assert (root / "figures" / f"{png}.png").stat().st_size > 10_000
    report = (root / "figures" / "REPORT.md").read_text()
    assert "synthetic" in report and "| 14 |" in report
    assert "up to date" in _run([dvc, "status"], root, env)


@pytest.mark.slow
def test_changing_alpha_reruns_only_what_depends_on_it(repo):
    root, env, dvc, _ = repo
    out = _run([dvc, "exp", "run", "-S", "alpha=0.5"], root, env)
    assert _stages_run(out) == {"train@fig3a", "train@fig3b", "train@fig4", "train@fig5",
                                "train@regularizers", "plot", "report"}
    assert json.loads((root / "metrics" / "fig3a.json").read_text())["points"]["random"]["alpha"] == 0.5
    diff = _run([dvc, "metrics", "diff"], root, env)
    assert "metrics/fig3a.json" in diff
