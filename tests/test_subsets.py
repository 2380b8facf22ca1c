from collections import Counter

import pytest

from aetasc.data.audioset import Segment
from aetasc.subsets import (SubsetError, SubsetRequest, abundance, build_subset, choose_classes,
                            make_subsets, read_clip_list)

MIDS = [f"/m/c{i}" for i in range(10)]


def _pool(n=400, seconds=10.0, seed=0):
    """Clips with 1-3 labels; class i carries weight 1/(i+1), so /m/c0 and /m/c1 dominate."""
    import numpy as np
    rng = np.random.default_rng(seed)
    p = np.array([1 / (i + 1) for i in range(len(MIDS))])
    segs = []
    for j in range(n):
        labels = sorted(set(rng.choice(len(MIDS), size=rng.integers(1, 4), p=p / p.sum()).tolist()))
        segs.append(Segment(f"id{seed}_{j:04d}", 0.0, seconds, tuple(MIDS[i] for i in labels)))
    return segs


RANKING = MIDS[::-1]   # pretend the tagger ranks the rarest classes first


def test_strategies_pick_their_classes():
    counts = abundance(_pool())
    assert choose_classes("correlated", 3, 0, RANKING, counts) == tuple(RANKING[:3])
    assert choose_classes("uncorrelated", 3, 0, RANKING, counts) == (MIDS[0], MIDS[1], MIDS[2])
    assert choose_classes("abundant", 2, 0, RANKING, counts) == (MIDS[0], MIDS[1])
    a = choose_classes("random", 4, 0, RANKING, counts)
    assert a == choose_classes("random", 4, 0, RANKING, counts)          # seeded
    assert a != choose_classes("random", 4, 1, RANKING, counts)
    assert len(set(a)) == 4 and set(a) <= set(MIDS)


def test_strategy_errors():
    with pytest.raises(SubsetError, match="unknown strategy 'clever'"):
        choose_classes("clever", 2, 0, RANKING, Counter())
    with pytest.raises(SubsetError, match="k = 11 but the pool has only 10"):
        choose_classes("random", 11, 0, RANKING, Counter())


@pytest.mark.parametrize("hours", [0.05, 0.26, 0.3, 0.44])
def test_hours_within_one_clip_and_labels_restricted(hours):
    pool, evaluation = _pool(), _pool(100, seed=1)
    classes = (MIDS[2], MIDS[5], MIDS[7])
    sub = build_subset(SubsetRequest("random", 3, hours, 0), classes, pool, evaluation)
    assert abs(sub.train_hours - hours) <= 10.0 / 3600 / 2 + 1e-9     # nearest whole clip
    assert all(s.labels and set(s.labels) <= set(classes) for s in sub.train + sub.val)
    assert not {s.ytid for s in sub.train} & {s.ytid for s in sub.val}
    # every eval clip carrying a class is in the validation set
    assert len(sub.val) == sum(bool(set(s.labels) & set(classes)) for s in evaluation)


def test_subsets_are_deterministic_nested_and_share_validation():
    pool, evaluation = _pool(), _pool(100, seed=1)
    classes = (MIDS[0], MIDS[3])
    small = build_subset(SubsetRequest("random", 2, 0.2, 0), classes, pool, evaluation)
    again = build_subset(SubsetRequest("random", 2, 0.2, 0), classes, pool, evaluation)
    large = build_subset(SubsetRequest("random", 2, 0.6, 0), classes, pool, evaluation)
    other_seed = build_subset(SubsetRequest("random", 2, 0.2, 1), classes, pool, evaluation)
    assert small == again
    assert set(small.train) < set(large.train)              # a smaller T is part of a larger
    assert small.val == large.val                          # fixed validation set per class set
    assert small.train != other_seed.train


def test_not_enough_hours_fails_and_says_how_many_exist():
    pool = _pool(50)
    rare = (MIDS[9],)
    have = sum(MIDS[9] in s.labels for s in pool) * 10 / 3600
    with pytest.raises(SubsetError, match=f"only {have:.3f} h of clips carrying these 1 classes"):
        build_subset(SubsetRequest("correlated", 1, 5.0, 0), rare, pool, _pool(20, seed=1))


def test_no_validation_clip_is_an_error():
    pool = _pool()
    with pytest.raises(SubsetError, match="no eval clip"):
        build_subset(SubsetRequest("random", 1, 0.01, 0), (MIDS[4],), pool,
                     [Segment("e", 0, 10, (MIDS[0],))])


class _Layout:
    def __init__(self):
        self.segments = {"unbalanced_train": _pool(), "eval": _pool(100, seed=1)}


class _Scenes:
    scenes = ["a", "b"]

    def split(self, name):
        from aetasc.data.tut2018 import SceneClip
        return [SceneClip(f"audio/{name}{i}.wav", "ab"[i % 2], f"l{i}", "a", name) for i in range(4)]


def test_make_subsets_writes_every_request_and_the_union(tmp_path):
    requests = [SubsetRequest("random", 3, 0.1, 0), SubsetRequest("abundant", 2, 0.2, 1)]
    summary = make_subsets(requests, RANKING, _Layout(), _Scenes(), tmp_path)
    assert summary["subsets"] == 2
    union = {line.split(",")[0] for line in (tmp_path / "union.csv").read_text().split()[1:]}
    for r in requests:
        for part in ("train", "val"):
            assert {s.ytid for s in read_clip_list(tmp_path / f"{r.id}.{part}.csv")} <= union


def test_make_subsets_checks_everything_before_writing(tmp_path):
    requests = [SubsetRequest("random", 3, 0.1, 0), SubsetRequest("correlated", 1, 50.0, 0)]
    with pytest.raises(SubsetError, match="asked for 50 h"):
        make_subsets(requests, RANKING, _Layout(), _Scenes(), tmp_path)
    assert not list(tmp_path.iterdir())
