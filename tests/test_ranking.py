import numpy as np
import pytest
import torch
import yaml

from aetasc.config import parse_params
from aetasc.data.synthetic import read_ground_truth
from aetasc.ranking import RankingError, precision_at, rank_classes, rank_events, read_ranking, score_clips
from conftest import REPO, run_stage


def test_rank_classes_orders_by_mean_score_and_breaks_ties_by_class_order():
    scores = np.array([[0.1, 0.9, 0.5, 0.5], [0.3, 0.7, 0.5, 0.5]])
    ranking = rank_classes(scores, ["a", "b", "c", "d"], ["A", "B", "C", "D"])
    assert [r.mid for r in ranking] == ["b", "c", "d", "a"]
    assert [r.rank for r in ranking] == [1, 2, 3, 4]
    assert ranking[0].score == pytest.approx(0.8)
    assert precision_at(ranking, {"b", "a"}, 2) == 0.5


def test_missing_or_foreign_tagger_checkpoint(tmp_path):
    x = torch.zeros(2, 8, 10)
    with pytest.raises(RankingError, match="tagger checkpoint not found"):
        score_clips(tmp_path / "nope.pt", x, ["a"])
    torch.save({"events": ["x", "y"], "model": {}}, tmp_path / "other.pt")
    with pytest.raises(RankingError, match="not the pool's 1 classes"):
        score_clips(tmp_path / "other.pt", x, ["a"])


@pytest.mark.slow
def test_ranking_finds_the_scene_events_of_the_synthetic_world(tmp_path):
    """On the synthetic world of params.yaml, the ranking puts the scene events on top.

    The AET training and eval pools play no part in the ranking, so they are shrunk;
    the scenes, the events and the ranking pool are those of the real configuration.
    """
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["worlds"]["synthetic"]["generator"].update(unbalanced_clips=20, eval_clips_per_class=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    for script, *args in [("acquire_asc.py",), ("acquire_aet.py",), ("extract_features.py", "--set", "asc"),
                          ("extract_features.py", "--set", "ranking_pool")]:
        run_stage(tmp_path, script, *args)
    summary = rank_events(parse_params(raw), tmp_path / "data/asc", tmp_path / "data/aet",
                          tmp_path / "data/features/asc", tmp_path / "data/features/ranking_pool",
                          tmp_path, tmp_path / "runs", device="cpu")
    n = raw["worlds"]["synthetic"]["generator"]["scene_events"]
    assert summary["scene_events"] == n
    assert summary["precision_at_scene_events"] >= 0.8, summary
    ranking = read_ranking(tmp_path / "ranking.csv")
    k = raw["worlds"]["synthetic"]["figures"]["fig3a"]["k"]
    truth = {m for m, present in read_ground_truth(tmp_path / "data/asc").items() if present}
    assert not {r.mid for r in ranking[-k:]} & truth        # the uncorrelated end: no scene event
    assert summary["tagger_lwlrap"] > 0.7
