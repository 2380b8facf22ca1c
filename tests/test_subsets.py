import pytest

from aetasc.data.audioset import Segment
from aetasc.events.subsets import (MAX_DRAWS, Pool, SubsetError, SubsetRequest, build_and_fetch, build_subset,
                            build_subsets, choose_classes, read_clip_list, write_subsets)

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


def _hours(pool, classes):
    """Hours of the clips carrying any of the classes, counted plainly (the reference)."""
    return sum(s.seconds for s in pool if set(s.labels) & set(classes)) / 3600


def test_strategies_pick_their_classes():
    pool = Pool(_pool())
    choice = lambda strategy, k, seed=0: choose_classes(strategy, k, seed, RANKING, pool, 0.01).classes
    assert choice("correlated", 3) == tuple(RANKING[:3])
    assert choice("uncorrelated", 3) == (MIDS[0], MIDS[1], MIDS[2])
    assert choice("abundant", 2) == (MIDS[0], MIDS[1])
    a = choice("random", 4)
    assert a == choice("random", 4)          # seeded
    assert a != choice("random", 4, 1)
    assert len(set(a)) == 4 and set(a) <= set(MIDS)


def test_the_pool_counts_hours_as_a_plain_sum():
    segs = _pool()
    pool = Pool(segs)
    for classes in [(MIDS[0],), (MIDS[3], MIDS[9]), tuple(MIDS)]:
        assert pool.hours(classes) == pytest.approx(_hours(segs, classes))
    assert pool.hours(("/m/absent",)) == 0.0


def test_random_sets_are_redrawn_until_they_hold_t():
    segs = _pool()
    pool = Pool(segs)
    plain = choose_classes("random", 2, 3, RANKING, pool, 0.01)
    assert plain.draws == 1
    # a T that the plain first draw cannot hold: later draws must, and the record says how many
    need = _hours(segs, plain.classes) + 0.05
    redrawn = choose_classes("random", 2, 3, RANKING, pool, need)
    assert redrawn.draws > 1 and _hours(segs, redrawn.classes) >= need
    assert redrawn.pool_hours == pytest.approx(_hours(segs, redrawn.classes))


def test_ranked_strategies_walk_past_classes_that_hold_too_little():
    segs = _pool()
    pool = Pool(segs)
    top = tuple(RANKING[:2])                          # the two rarest classes
    need = _hours(segs, top) + 0.1
    choice = choose_classes("correlated", 2, 0, RANKING, pool, need)
    assert _hours(segs, choice.classes) >= need
    assert choice.passed_over and set(choice.passed_over) <= set(RANKING[:choice.deepest_rank])
    assert not set(choice.passed_over) & set(choice.classes)
    # the order of the ranking is kept among the classes taken
    assert list(choice.classes) == sorted(choice.classes, key=RANKING.index)
    up = choose_classes("uncorrelated", 2, 0, RANKING, pool, 0.01)
    assert up.passed_over == () and up.classes == (MIDS[0], MIDS[1])


def test_strategy_errors():
    pool = Pool(_pool())
    with pytest.raises(SubsetError, match="unknown strategy 'clever'"):
        choose_classes("clever", 2, 0, RANKING, pool, 0.01)
    with pytest.raises(SubsetError, match="k = 11 but the pool has only 10"):
        choose_classes("random", 11, 0, RANKING, pool, 0.01)
    with pytest.raises(SubsetError, match="T = 5 h exceeds the 1.111 h the whole pool holds"):
        choose_classes("random", 2, 0, RANKING, pool, 5.0)
    # feasible for the whole pool, but for no single class: random draws of k = 1 give up
    with pytest.raises(SubsetError, match=f"none of {MAX_DRAWS} random 1-class sets"):
        choose_classes("random", 1, 0, RANKING, pool, 1.0)
    with pytest.raises(SubsetError, match="walking the whole ranking"):
        choose_classes("correlated", 1, 0, RANKING, pool, 1.0)


@pytest.mark.parametrize("hours", [0.05, 0.26, 0.3, 0.44])
def test_hours_within_one_clip_and_labels_restricted(hours):
    pool, evaluation = _pool(), _pool(100, seed=1)
    classes = (MIDS[2], MIDS[5], MIDS[7])
    sub = build_subset(SubsetRequest("random", 3, hours, 0), classes, Pool(pool), evaluation)
    assert abs(sub.train_hours - hours) <= 10.0 / 3600 / 2 + 1e-9     # nearest whole clip
    assert all(s.labels and set(s.labels) <= set(classes) for s in sub.train + sub.val)
    assert not {s.ytid for s in sub.train} & {s.ytid for s in sub.val}
    # every eval clip carrying a class is in the validation set
    assert len(sub.val) == sum(bool(set(s.labels) & set(classes)) for s in evaluation)


def test_subsets_are_deterministic_nested_and_share_validation():
    pool, evaluation = _pool(), _pool(100, seed=1)
    classes = (MIDS[0], MIDS[3])
    pool = Pool(pool)
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
        build_subset(SubsetRequest("correlated", 1, 5.0, 0), rare, Pool(pool), _pool(20, seed=1))


def test_no_validation_clip_is_an_error():
    pool = _pool()
    with pytest.raises(SubsetError, match="no eval clip"):
        build_subset(SubsetRequest("random", 1, 0.01, 0), (MIDS[4],), Pool(pool),
                     [Segment("e", 0, 10, (MIDS[0],))])


class _Scenes:
    scenes = ["a", "b"]

    def split(self, name):
        from aetasc.data.tut2018 import SceneClip
        return [SceneClip(f"audio/{name}{i}.wav", "ab"[i % 2], f"l{i}", "a", name) for i in range(4)]


def test_one_class_set_per_strategy_and_k_holds_the_largest_t():
    segs, evaluation = _pool(), _pool(100, seed=1)
    pool = Pool(segs)
    requests = [SubsetRequest("random", 2, h, 0) for h in (0.05, 0.1, 0.3)]
    built, choices = build_subsets(requests, RANKING, pool, evaluation)
    assert len({b.classes for b in built}) == 1                     # T varies on fixed classes
    assert _hours(segs, built[0].classes) >= 0.3
    trains = [set(b.train) for b in sorted(built, key=lambda b: b.request.hours)]
    assert trains[0] < trains[1] < trains[2]                        # nested in T
    with pytest.raises(SubsetError, match="several data seeds"):
        build_subsets([SubsetRequest("random", 2, 0.1, 0), SubsetRequest("random", 2, 0.1, 1)],
                      RANKING, pool, evaluation)
    with pytest.raises(SubsetError, match="asked for by fig9.hours"):
        build_subsets([SubsetRequest("random", 2, 50.0, 0)], RANKING, pool, evaluation,
                      {SubsetRequest("random", 2, 50.0, 0): "fig9.hours"})


def test_write_subsets_writes_every_request_and_the_union(tmp_path):
    requests = [SubsetRequest("random", 3, 0.1, 0), SubsetRequest("abundant", 2, 0.2, 0)]
    pool = Pool(_pool())
    built, choices = build_subsets(requests, RANKING, pool, _pool(100, seed=1))
    index = write_subsets(built, choices, pool, _Scenes(), tmp_path)
    assert len(index) == 2
    union = {line.split(",")[0] for line in (tmp_path / "union.csv").read_text().split()[1:]}
    for r in requests:
        assert index[r.id]["draws"] >= 1 and 0.0 <= index[r.id]["dominant_share"] <= 1.0
        for part in ("train", "val"):
            assert {s.ytid for s in read_clip_list(tmp_path / f"{r.id}.{part}.csv")} <= union


def test_clips_that_fail_to_fetch_are_replaced_by_the_next_candidate():
    segs, evaluation = _pool(), _pool(100, seed=1)
    requests = [SubsetRequest("random", 2, h, 0) for h in (0.1, 0.3)]
    keys = {r: f"fig.hours.{i}" for i, r in enumerate(requests)}
    everything = {s.ytid for s in segs}
    # reference: every clip present
    plain, _ = build_subsets(requests, RANKING, Pool(segs), evaluation)
    plain_train = {b.request: [s.ytid for s in b.train] for b in plain}
    gone = set(plain_train[requests[0]][::3])            # a third of the small subset's clips
    calls = []

    def fetch(wanted):
        calls.append([s.ytid for s in wanted])
        got = {s.ytid: f"audio/{s.ytid}.wav" for s in wanted if s.ytid not in gone}
        return got, {s.ytid for s in wanted} - set(got)

    pool = Pool(segs)
    built, _, fetched = build_and_fetch(requests, RANKING, pool, evaluation, keys, everything, fetch)
    for b in built:
        ids = [s.ytid for s in b.train]
        assert not gone & set(ids) and set(ids) <= set(fetched)
        assert abs(b.train_hours - b.request.hours) <= 10.0 / 3600 / 2 + 1e-9      # T still holds
        # the same order: the reference's clips that did not fail come first, in order
        kept = [y for y in plain_train[b.request] if y not in gone]
        assert ids[:len(kept) - 1] == kept[:len(kept) - 1]
        assert b.replaced == len(gone)         # same classes, same order: both prefixes held them
    # only what the subsets take is ever fetched, each clip once
    asked = [y for call in calls for y in call]
    assert len(asked) == len(set(asked))
    taken = {s.ytid for b in built for s in b.train}
    assert set(asked) == taken | gone
    assert len(asked) < len(everything)


def test_a_pool_that_cannot_replace_its_failures_says_so():
    segs, evaluation = _pool(50), _pool(20, seed=1)
    request = SubsetRequest("abundant", 1, 0.05, 0)
    fetch = lambda wanted: ({}, {s.ytid for s in wanted})          # nothing can be fetched
    with pytest.raises(SubsetError, match="could not be fetched"):
        build_and_fetch([request], RANKING, Pool(segs), evaluation, {request: "k"}, {s.ytid for s in segs}, fetch)
