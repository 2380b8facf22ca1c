"""The stages on the tiny world, run as DVC runs them, checked against the world's ground truth."""
import json
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
import yaml

from aetasc.config import parse_params
from aetasc.experiments.data import DataCache, DataError, Paths, run_data
from aetasc.experiments.grid import FIGURES, budgets_of, plan_runs
from aetasc.planning.cost import count_runs
from aetasc.events.subsets import read_clip_list
from aetasc.training.trainer import Trainer
from conftest import REPO, run_stage, tiny_raw_params


def test_subsets_cover_every_experiment(tiny_pipeline):
    index = json.loads((tiny_pipeline / "data/subsets/index.json").read_text())
    union = (tiny_pipeline / "data/subsets/union.csv").read_text().split()[1:]
    union_ids = {line.split(",")[0] for line in union}
    for entry in index.values():
        for part in ("train", "val"):
            clips = read_clip_list(tiny_pipeline / "data/subsets" / entry[part])
            assert {c.ytid for c in clips} <= union_ids
            assert all(set(c.labels) <= set(entry["classes"]) and c.labels for c in clips)


def test_baselines_figure_runs_and_gives_eq3(tiny_pipeline, tmp_path):
    out = run_stage(tiny_pipeline, "train_figure.py", "--figure", "baselines",
                    "--runs", str(tmp_path / "runs"), "--metrics", str(tmp_path / "metrics"))
    summary = json.loads((tmp_path / "metrics/baselines.json").read_text())
    assert "baselines asc: ASC accuracy" in out
    asc = summary["points"]["asc"]
    assert len(asc["asc_accuracy"]["per_seed"]) == 2
    l_asc, l_aet = summary["converged_loss_asc"], summary["converged_loss_aet"]
    assert summary["eq3_alpha"] == pytest.approx(l_asc / (l_asc + l_aet), abs=1e-6)   # 6 decimals kept
    # the mean and the per-seed values are each rounded to 6 decimals: equal to within that
    assert l_asc == pytest.approx(sum(asc["loss_asc"]["per_seed"]) / 2, abs=1e-6)
    assert (tmp_path / "metrics/baselines.csv").is_file()
    assert (tmp_path / "metrics/curves/baselines.csv").read_text().startswith("epoch,")


def _params_with(tiny_pipeline, tmp_path, **fig3b):
    raw = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    raw["worlds"]["synthetic"]["figures"]["fig3b"].update(fig3b)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def _stage(cwd, script, *args):
    return subprocess.run([sys.executable, str(REPO / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_a_T_beyond_the_whole_pool_stops_before_the_tagger_trains(tiny_pipeline, tmp_path):
    params = _params_with(tiny_pipeline, tmp_path, hours=[0.0025, 5.0])
    done = _stage(tiny_pipeline, "rank_events.py", "--params", params, "--runs", str(tmp_path / "runs"),
                  "--out", str(tmp_path / "ranking"), "--metrics", str(tmp_path / "ranking.json"))
    assert done.returncode != 0
    assert "worlds.synthetic.figures.fig3b.hours.1 = 5 h exceeds the" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "runs").exists()


def test_a_subset_the_pool_cannot_fill_names_the_params_key(tiny_pipeline, tmp_path):
    params = _params_with(tiny_pipeline, tmp_path, k=1, hours=[0.0025, 0.02])
    done = _stage(tiny_pipeline, "make_subsets.py", "--params", params, "--out", str(tmp_path / "subsets"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "asked for by worlds.synthetic.figures.fig3b.hours.1)" in done.stderr


def _with_a_rejected_eval_clip(tiny_pipeline, tmp_path) -> Paths:
    """The tiny world's scene features, as if one evaluation clip had been rejected."""
    features = tmp_path / "features"
    shutil.copytree(tiny_pipeline / "data/features/asc", features / "asc")
    clip = json.loads((tiny_pipeline / "data/subsets/asc_clips.json").read_text())["evaluate"][0][0]
    with (features / "asc" / "rejected.csv").open("a") as f:
        f.write(f"{clip},audio/{clip}.wav,silent,peak 0\n")
    return Paths(features / "asc", tiny_pipeline / "data/features/aet_subsets", tiny_pipeline / "data/subsets",
                 tmp_path / "runs", tmp_path / "baselines.json")


def test_a_fold_that_lost_too_many_clips_stops_the_run(tiny_pipeline, tmp_path):
    paths = _with_a_rejected_eval_clip(tiny_pipeline, tmp_path)
    params = tiny_params_with(max_rejected_share=0.05)      # 1 of 18 evaluation clips is 5.6 %
    with pytest.raises(DataError, match=r"the ASC evaluate fold .*: 1 of 18 clips were rejected .*5.6 % > "
                                        r"max_rejected_share = 5 %"):
        DataCache(params, paths).asc()


def test_a_run_records_what_its_data_held(tiny_pipeline, tmp_path):
    paths = _with_a_rejected_eval_clip(tiny_pipeline, tmp_path)
    cache = DataCache(tiny_params_with(max_rejected_share=0.1), paths)
    run = next(r for r in plan_runs("baselines", cache.params, cache.data_id, None) if r.spec.alpha == 1.0)
    record = run_data(run, cache).record
    assert record["asc_evaluate"] == {"clips": 17, "rejected": 1}
    assert record["asc_train"]["rejected"] == 0 and record["aet_train"]["hours"] > 0
    assert record["aet_train"]["clips"] == len(run_data(run, cache).aet_train)


def tiny_params_with(**changes):
    raw = tiny_raw_params()
    raw.update(changes)
    return parse_params(raw)


def test_figure_runs_are_evaluated_at_the_study_budgets_only_when_the_study_reaches_their_budget():
    """A figure's runs are evaluated in full at half the budget; at the study's budgets up to
    the world's too when the study reaches the world's budget (then the study's runs are the
    figures' own, or, for a study that goes on to twice the budget, the figures' runs stay the
    same runs, fingerprint for fingerprint): a full evaluation no figure reads is not made."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["worlds"]["synthetic"].update(epochs=16, convergence={"tolerance": 0.02, "study_epochs": [2, 4, 8, 16, 32, 64],
                                                              "study_seeds": 4})
    raw["worlds"]["paper"].update(epochs=60, convergence={"tolerance": 0.02, "study_epochs": [15, 30, 60],
                                                          "study_seeds": 4})
    synthetic, paper = parse_params(raw), parse_params({**raw, "world": "paper"})
    assert budgets_of("fig3a", synthetic) == (2, 4, 8, 16)
    assert budgets_of("budget", synthetic) == (2, 4, 8, 16, 32, 64)
    assert budgets_of("fig3a", paper) == (15, 30, 60) == budgets_of("budget", paper)
    raw["worlds"]["synthetic"]["convergence"]["study_epochs"] = [2, 4]
    short = parse_params(raw)
    assert budgets_of("fig3a", short) == (8, 16)
    assert budgets_of("budget", short) == (2, 4)


def test_a_study_beyond_the_budget_leaves_the_figures_runs_as_they_are(tiny_pipeline):
    """Extending the study to twice the world's budget trains new runs for the study only:
    every figure's runs keep their fingerprints, so a finished record stays valid."""
    raw = tiny_raw_params()
    world = raw["worlds"]["synthetic"]
    world["epochs"] = epochs = 8          # a study budget below half of it: evaluated on the way
    world["convergence"]["study_epochs"] = [2, 4, 8]
    at_budget = parse_params(raw)
    world["convergence"]["study_epochs"] = [2, 4, 8, 16]
    beyond = parse_params(raw)
    assert budgets_of("fig2", beyond) == budgets_of("fig2", at_budget) == (2, 4, epochs)
    paths = Paths(tiny_pipeline / "data/features/asc", tiny_pipeline / "data/features/aet_subsets",
                  tiny_pipeline / "data/subsets", tiny_pipeline / "unused-runs", tiny_pipeline / "none.json")

    def fingerprints(params, figure):
        runs = plan_runs(figure, params, DataCache(params, paths).data_id, {"eq3_alpha": 0.8})
        return [(r.spec.fingerprint(), r.pretrain_spec and r.pretrain_spec.fingerprint()) for r in runs]

    for figure in ("fig2", "fig5"):
        assert fingerprints(at_budget, figure) == fingerprints(beyond, figure)
    study_at, study_beyond = fingerprints(at_budget, "budget"), fingerprints(beyond, "budget")
    assert set(study_at) & set(fingerprints(at_budget, "fig5"))       # shared with the figures
    assert len(study_beyond) > len(study_at)                          # a pair more per seed
    assert not set(study_beyond) >= set(study_at)                     # the 2E runs are new ones


def test_pretraining_and_fine_tuning_take_the_steps_of_one_run(tiny_pipeline):
    """Fig. 5 is step-matched: b // 2 epochs of AET pre-training and the rest of ASC
    fine-tuning, one pair of runs per budget (the world's and half of it), against joint and
    baseline runs of b epochs that are evaluated at half of it on the way."""
    params = parse_params(tiny_raw_params())
    paths = Paths(tiny_pipeline / "data/features/asc", tiny_pipeline / "data/features/aet_subsets",
                  tiny_pipeline / "data/subsets", tiny_pipeline / "unused-runs", tiny_pipeline / "none.json")
    cache = DataCache(params, paths)
    runs = plan_runs("fig5", params, cache.data_id, {"eq3_alpha": 0.8})
    epochs = params.active.epochs
    pretrain = [r for r in runs if r.pretrain_spec is not None]
    joint = [r for r in runs if r.pretrain_spec is None]
    assert sorted({r.budgets for r in pretrain}) == [(epochs // 2,), (epochs,)]
    for run in pretrain:
        (budget,) = run.budgets
        assert run.pretrain_spec.epochs + run.spec.epochs == budget and run.pretrain_spec.alpha == 1.0
        assert run.spec.init_encoder == run.pretrain_spec.fingerprint() and run.spec.alpha == 0.0
    assert all(r.spec.epochs == epochs and r.spec.evaluate_at == (epochs // 2,) for r in joint)
    # an epoch is a pass over the ASC training clips for every kind of run, pre-training included
    steps = {Trainer(replace(spec, init_encoder=None), run_data(pretrain[0], cache), torch.device("cpu")).steps_per_epoch
             for spec in (pretrain[0].pretrain_spec, pretrain[0].spec, joint[0].spec)}
    assert len(steps) == 1


def test_the_planner_counts_the_runs_the_runner_trains(tiny_pipeline, tiny_params):
    """The plan's runs per figure (planned: grid points x seeds; new: runs no earlier figure
    trained) are the runner's own plan_runs on the built data, de-duplicated by fingerprint as
    the run store does: the planner's stand-ins for the data and for Eq. 3's alpha merge and
    split no run that the real ones do not."""
    paths = Paths(tiny_pipeline / "data/features/asc", tiny_pipeline / "data/features/aet_subsets",
                  tiny_pipeline / "data/subsets", tiny_pipeline / "unused-runs", tiny_pipeline / "none.json")
    cache = DataCache(tiny_params, paths)
    counted = count_runs(tiny_params)
    trained = set()
    for figure in FIGURES:
        runs = plan_runs(figure, tiny_params, cache.data_id, {"eq3_alpha": 0.8})
        fingerprints = {s.fingerprint() for r in runs for s in (r.pretrain_spec, r.spec) if s is not None}
        assert counted["figures"][figure] == {"planned": len({(r.point.label, r.seed) for r in runs}),
                                              "new": len(fingerprints - trained)}, figure
        trained |= fingerprints
    assert counted["runs"] == len(trained)
