"""The whole DVC graph on the tiny configuration, as `dvc repro` runs it."""
import json
import re
import shutil
import subprocess

import pytest

from conftest import DVC, DVC_ENV, run_cmd as _run

FIGURES = ("baselines", "fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41")


@pytest.fixture(scope="module")
def repo(dvc_repo_pristine, tmp_path_factory):
    """A copy of the reproduced tiny project that this module's tests change in turn."""
    root = tmp_path_factory.mktemp("dvc-pipeline") / "repo"
    shutil.copytree(dvc_repo_pristine[0], root, symlinks=True)
    return root, DVC_ENV, DVC, dvc_repo_pristine[1]


def _json(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.mark.slow
def test_dvc_repro_builds_every_figure_and_the_report(repo):
    root, env, dvc, out = repo
    training = {"baselines", "budget", "sweep@fig2", "sweep@sec41"} | {f"train@{f}" for f in FIGURES
                                                                      if f not in ("baselines", "fig2", "sec41")}
    assert training | {"plot", "report", "rank_events", "make_subsets", "plan"} <= _stages_run(out)
    assert json.loads((root / "metrics" / "plan.json").read_text())["figures"]["fig3a"]["runs_new"] > 0
    for f in FIGURES:
        summary = json.loads((root / "metrics" / f"{f}.json").read_text())
        assert summary["world"] == "synthetic" and summary["points"]
    for png in ("fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41", "budget"):
        assert (root / "figures" / f"{png}.png").stat().st_size > 10_000
    report = (root / "figures" / "REPORT.md").read_text()
    assert "synthetic" in report and "| 14 |" in report
    # the learning-curve study and every figure's convergence are in the report
    study = json.loads((root / "metrics" / "budget.json").read_text())
    assert study["budgets"] == [2, 4] and set(study["arms"]) == {"asc", "aet", "joint eq3", "joint alpha=0.9",
                                                                 "pretrain+finetune"}
    assert "## Training budget" in report and "## Convergence per figure" in report
    for f in FIGURES:
        assert "convergence" in json.loads((root / "metrics" / f"{f}.json").read_text()), f
    assert "up to date" in _run([dvc, "status"], root, env)


@pytest.mark.slow
def test_changing_alpha_reruns_only_what_depends_on_it(repo):
    root, env, dvc, _ = repo
    out = _run([dvc, "exp", "run", "-S", "alpha=0.9"], root, env)
    # the plan's run counts depend on alpha, the subsets do not: only the plan stage re-plans
    assert _stages_run(out) == {"plan", "train@fig3a", "train@fig3b", "train@fig4", "train@fig5",
                                "train@regularizers", "plot", "report"}
    assert json.loads((root / "metrics" / "fig3a.json").read_text())["points"]["random"]["alpha"] == 0.9
    # What a reviewer reads: one changed param, and a short diff of the one metrics file.
    params = _json([dvc, "params", "diff", "--json"], root, env)
    assert {f: list(p) for f, p in params.items()} == {"params.yaml": ["alpha"]}
    assert params["params.yaml"]["alpha"] == {"old": "auto", "new": 0.9}
    metrics = _json([dvc, "metrics", "diff", "--json"], root, env)
    assert list(metrics) == ["metrics/summary.json"]
    changed = metrics["metrics/summary.json"]
    assert 0 < len(changed) <= 40, sorted(changed)
    assert all("." not in key for key in changed)
    assert all(isinstance(v["new"], (int, float)) for v in changed.values())


@pytest.mark.slow
def test_dvc_plots_show_every_figure_with_its_spread(repo):
    """Each figure's native plot is filled from its CSV with the mean and, in the spread
    templates (.dvc/plots), the standard deviation around it."""
    root, env, dvc, _ = repo
    shown = _json([dvc, "plots", "show", "--json"], root, env)["data"]
    images = {f"figures/{f}.png" for f in FIGURES if f != "baselines"} | {"figures/budget.png"}
    assert images <= set(shown)
    spread = {k: v[0]["content"] for k, v in shown.items() if k not in images and "transform" in v[0]["content"]}
    assert set(spread) == {"fig2_asc_accuracy", "fig2_lwlrap", "fig3a_asc_accuracy", "fig3b_asc_accuracy",
                           "fig4_asc_accuracy", "fig5_asc_accuracy", "regularizers_asc_accuracy"}
    for name, spec in spread.items():
        rows = spec["data"]["values"]
        figure = name.split("_")[0]
        assert len(rows) == len(json.loads((root / "metrics" / f"{figure}.json").read_text())["points"]), name
        sd_fields = set(re.findall(r"datum\['(\w+_sd)'\]", json.dumps(spec["transform"])))
        assert len(sd_fields) == 1 and all(sd_fields <= set(r) for r in rows), (name, sd_fields)
        mean_field = sd_fields.pop().removesuffix("_sd")
        means = [float(r[mean_field]) for r in rows if r[mean_field] != ""]
        assert means and all(0.0 <= m <= 100.0 for m in means), name      # in %, like the PNGs
