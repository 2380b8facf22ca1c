"""The stages on the tiny world, run as DVC runs them, checked against the world's ground truth."""
import json

from aetasc.data.audioset import read_audioset
from aetasc.subsets import read_clip_list
from conftest import run_stage


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
    asc, aet = summary["points"]["asc"], summary["points"]["aet"]
    assert len(asc["asc_accuracy"]["per_seed"]) == 2
    l_asc, l_aet = summary["converged_loss_asc"], summary["converged_loss_aet"]
    assert summary["eq3_alpha"] == l_asc / (l_asc + l_aet)
    assert l_asc == sum(asc["loss_asc"]["per_seed"]) / 2
    assert (tmp_path / "metrics/baselines.csv").is_file()
    assert (tmp_path / "metrics/curves/baselines.csv").read_text().startswith("epoch,")
