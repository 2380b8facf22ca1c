"""The subset rule and the plan on real AudioSet metadata: a committed sample of the official
CSVs (tests/data/audioset_sample, see its README), checked against references computed here
with plain Python from the rows themselves.

A full metadata folder (the official CSVs, or a prefix of unbalanced_train) is tested too
when AUDIOSET_METADATA points to one (a slow test, skipped otherwise).
"""
from __future__ import annotations

import copy
import csv
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from aetasc.config import parse_params, read_yaml
from aetasc.data.audioset import (CLASS_TABLE, SPLITS, check_splits, read_class_labels,
                                  read_segments_csv)
from aetasc.data.tut2018 import LayoutError
from aetasc.planning.__main__ import main as plan_main
from aetasc.planning.cost import TUT_CLIPS
from aetasc.planning.data_plan import (BuiltSubsets, format_plan, make_plan, plan_from_metadata, read_metadata,
                                      scaled_requests)
from aetasc.events.ranking import RankedClass, write_ranking
from aetasc.events.subsets import Pool, SubsetError, SubsetRequest, build_subset, build_subsets, choose_classes

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(__file__).resolve().parent / "data" / "audioset_sample"
FULL_UNBALANCED_ROWS = 2_041_789          # rows of the official unbalanced_train_segments.csv
FULL_PREFIX_SCALE = 31.2                  # the 65,497-row prefix of it: 2,041,789 / 65,497
SPEECH, MUSIC = "/m/09x0r", "/m/04rlf"
CLIP_SECONDS = 10.0                       # the longest AudioSet segment


# ----------------------------------------------------------------- plain-Python references

def raw_rows(path: Path) -> list[tuple[str, float, float, tuple[str, ...]]]:
    """(ytid, start, end, labels) of every row, read with nothing but the csv module."""
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return [(ytid, float(start), float(end), tuple(labels.split(",")))
            for ytid, start, end, labels in csv.reader(lines, skipinitialspace=True)]


def header_counts(path: Path) -> dict[str, int]:
    """The key=value counts of the second '#' line."""
    line = path.read_text().splitlines()[1]
    assert line.startswith("#")
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def held_hours(rows, classes) -> float:
    """Hours of the clips carrying at least one of the classes."""
    wanted = set(classes)
    return sum(end - start for _, start, end, labels in rows if wanted & set(labels)) / 3600


def class_hours(rows) -> dict[str, float]:
    out: dict[str, float] = {}
    for _, start, end, labels in rows:
        for m in set(labels):
            out[m] = out.get(m, 0.0) + (end - start) / 3600
    return out


@pytest.fixture(scope="module")
def rows() -> dict[str, list]:
    return {split: raw_rows(SAMPLE / name) for split, name in SPLITS.items()}


@pytest.fixture(scope="module")
def table_mids() -> list[str]:
    with (SAMPLE / CLASS_TABLE).open(newline="") as f:
        return [r["mid"] for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def sample():
    """(class mids in table order, parsed segments per split, the unbalanced pool)."""
    mids, segments = read_metadata(SAMPLE)
    return mids, segments, Pool(segments["unbalanced_train"])


def paper_params():
    raw = read_yaml((REPO / "params.yaml").read_text())
    raw = copy.deepcopy(raw)
    raw["world"] = "paper"
    return raw, parse_params(raw)


def expected_subset_ids(raw: dict) -> dict[str, set[str]]:
    """Per figure, the ids of the AET subsets it asks for, read off the raw params: every
    (strategy, k, T) of the figure's block; k = 2 of Fig. 4 is the two most abundant classes."""
    world = raw["worlds"]["paper"]
    seed = world["data_seed"]
    out = {}
    for fig, block in world["figures"].items():
        strategies = block.get("strategies") or [block["strategy"]]
        ks = block.get("ks") or [block["k"]]
        hours = block["hours"] if isinstance(block["hours"], list) else [block["hours"]]
        out[fig] = {f"{'abundant' if fig == 'fig4' and k == 2 else s}-k{k}-T{float(h):g}h-data{seed}"
                    for s in strategies for k in ks for h in hours}
    out["baselines"] = set(out["fig2"])
    return out


# ------------------------------------------------------------------------------ parsing

def test_sample_rows_parse_as_the_csv_module_reads_them(rows):
    for split, name in SPLITS.items():
        path = SAMPLE / name
        parsed = read_segments_csv(path)
        head = header_counts(path)
        assert len(parsed) == head["num_segs"] == head["num_ytids"] == len(rows[split]) > 500
        assert [(s.ytid, s.start, s.end, s.labels) for s in parsed] == rows[split]
        labels = [m for r in rows[split] for m in r[3]]
        assert head["num_positive_labels"] == len(labels)
        assert head["num_unique_labels"] == len(set(labels))
        # the selection the README states: the third character of the YouTube id
        assert {r[0][2] for r in rows[split]} <= set("ABC")


def test_class_table_and_splits(rows, table_mids):
    classes = read_class_labels(SAMPLE / CLASS_TABLE)
    assert len(classes) == 527
    assert [c.mid for c in classes] == table_mids
    assert (classes[0].mid, classes[0].name) == (SPEECH, "Speech")
    assert next(c.name for c in classes if c.mid == MUSIC) == "Music"
    segments = {split: read_segments_csv(SAMPLE / name) for split, name in SPLITS.items()}
    check_splits(segments, classes, SAMPLE)                       # accepted
    used = {m for split_rows in rows.values() for r in split_rows for m in r[3]}
    assert used <= set(table_mids)
    # no clip in two splits
    ids = [r[0] for split_rows in rows.values() for r in split_rows]
    assert len(ids) == len(set(ids))


def test_sample_is_dominated_by_speech_and_music(rows):
    hours = class_hours(rows["unbalanced_train"])
    top = sorted(hours, key=hours.get, reverse=True)
    assert set(top[:2]) == {SPEECH, MUSIC}
    assert hours[top[2]] < 0.25 * min(hours[SPEECH], hours[MUSIC])
    assert len(hours) >= 300                                       # a few hundred classes


@pytest.mark.parametrize("name", ["eval_segments.csv", "unbalanced_train_segments.csv"])
def test_header_disagreeing_with_rows_names_the_file(tmp_path, name):
    lines = (SAMPLE / name).read_text().splitlines(keepends=True)
    n = header_counts(SAMPLE / name)["num_segs"]
    lines[1] = lines[1].replace(f"num_segs={n}", f"num_segs={n + 1}")
    bad = tmp_path / name
    bad.write_text("".join(lines))
    with pytest.raises(LayoutError, match=rf"{re.escape(str(bad))}: holds {n} segments, its header "
                                          rf"says num_segs={n + 1}"):
        read_segments_csv(bad)
    # a file cut short (its last row lost) is caught the same way
    short = tmp_path / f"short_{name}"
    short.write_text("".join((SAMPLE / name).read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(LayoutError, match=rf"{re.escape(short.name)}: holds {n - 1} segments"):
        read_segments_csv(short)


# ------------------------------------------------------------------ the subset rule

def test_random_sets_near_capacity_are_redrawn_until_they_hold_t(sample, rows):
    mids, _, pool = sample
    unbalanced = rows["unbalanced_train"]
    total = sum(end - start for _, start, end, _ in unbalanced) / 3600
    hours = 0.5 * total
    k = 10
    # without Speech or Music no 10 classes can hold T: even the 10 largest others together
    others = sorted((h for m, h in class_hours(unbalanced).items() if m not in (SPEECH, MUSIC)),
                    reverse=True)
    assert sum(others[:k]) < hours
    chosen = []
    for seed in range(4):
        choice = choose_classes("random", k, seed, mids, pool, hours)
        assert choice.draws > 1
        assert len(set(choice.classes)) == k and set(choice.classes) <= set(mids)
        assert {SPEECH, MUSIC} & set(choice.classes)
        held = held_hours(unbalanced, choice.classes)
        assert held >= hours
        assert choice.pool_hours == pytest.approx(held)
        again = choose_classes("random", k, seed, mids, pool, hours)
        assert (again.classes, again.draws) == (choice.classes, choice.draws)
        chosen.append(choice.classes)
    assert len(set(chosen)) == len(chosen)                         # the data seed matters


def test_t_above_the_whole_pool_is_refused_naming_it(sample, rows):
    mids, _, pool = sample
    total = sum(end - start for _, start, end, _ in rows["unbalanced_train"]) / 3600
    hours = round(total + 0.1, 1)
    for strategy in ("random", "correlated", "uncorrelated", "abundant"):
        with pytest.raises(SubsetError, match=rf"T = {hours:g} h exceeds the {total:.3f} h"):
            choose_classes(strategy, 10, 0, mids, pool, hours)


@pytest.mark.parametrize("strategy", ["correlated", "uncorrelated"])
def test_walks_pass_over_classes_only_when_the_top_k_holds_too_little(sample, rows, table_mids,
                                                                      strategy):
    mids, _, pool = sample
    unbalanced = rows["unbalanced_train"]
    order = table_mids if strategy == "correlated" else table_mids[::-1]
    k = 10
    top = order[:k]
    # T the plain top-k holds: taken as it is
    small = 0.9 * held_hours(unbalanced, top)
    if small > 0:
        plain = choose_classes(strategy, k, 0, table_mids, pool, small)
        assert set(plain.classes) == set(top)
        assert (plain.passed_over, plain.deepest_rank) == ((), k)
    # T the top-k cannot hold: the walk goes further down the order
    hours = held_hours(unbalanced, top) + 0.5
    choice = choose_classes(strategy, k, 0, table_mids, pool, hours)
    assert choice.passed_over and choice.deepest_rank > k
    assert len(choice.classes) == k == len(set(choice.classes))
    assert held_hours(unbalanced, choice.classes) >= hours
    assert choice.pool_hours == pytest.approx(held_hours(unbalanced, choice.classes))
    # every class down to the deepest rank was either taken or passed over, once
    walked = order[:choice.deepest_rank]
    assert sorted(choice.classes + choice.passed_over) == sorted(walked)
    assert not set(choice.classes) & set(choice.passed_over)
    assert len(choice.passed_over) == choice.deepest_rank - k
    assert list(choice.classes) == [m for m in order if m in choice.classes]   # in walk order


def test_subsets_are_nested_in_t_restricted_and_within_one_clip(sample, rows):
    mids, segments, pool = sample
    unbalanced = {r[0]: r for r in rows["unbalanced_train"]}
    choice = choose_classes("random", 35, 0, mids, pool, 2.0)
    classes = set(choice.classes)
    built = [build_subset(SubsetRequest("random", 35, t, 0), choice.classes, pool, segments["eval"])
             for t in (0.25, 0.5, 1.0, 2.0)]
    expected_val = [r[0] for r in rows["eval"] if classes & set(r[3])]
    for sub in built:
        assert abs(sub.train_hours - sub.request.hours) <= CLIP_SECONDS / 3600
        hours = sum(unbalanced[s.ytid][2] - unbalanced[s.ytid][1] for s in sub.train) / 3600
        assert hours == pytest.approx(sub.train_hours)
        for s in sub.train:
            original = unbalanced[s.ytid]
            assert (s.start, s.end) == original[1:3]
            assert s.labels == tuple(m for m in original[3] if m in classes) != ()
        assert [s.ytid for s in sub.val] == expected_val            # every eval clip of the classes
        assert all(s.labels and set(s.labels) <= classes for s in sub.val)
    for smaller, larger in zip(built, built[1:]):
        assert {s.ytid for s in smaller.train} < {s.ytid for s in larger.train}
        assert [s.ytid for s in larger.train[:len(smaller.train)]] == [s.ytid for s in smaller.train]


def test_t_equal_to_what_the_classes_hold_takes_every_clip(sample):
    mids, segments, pool = sample
    in_eval = {m for s in segments["eval"] for m in s.labels}
    for m in sorted(set(pool.rows_of) & in_eval):
        held = pool.hours((m,))
        sub = build_subset(SubsetRequest("random", 1, held, 0), (m,), pool, segments["eval"])
        assert len(sub.train) == len(pool.rows_of[m]), m


# ------------------------------------------------------------------------------ the plan

@pytest.fixture(scope="module")
def paper_plan(sample):
    raw, params = paper_params()
    mids, segments, pool = sample
    scale = FULL_UNBALANCED_ROWS / len(segments["unbalanced_train"])
    requests = scaled_requests(params, scale)
    built, choices = build_subsets(list(requests), mids, pool, segments["eval"],
                                   {r: key for r, (_, key) in requests.items()})
    plan = make_plan(params, BuiltSubsets.of(built, choices, pool), segments, TUT_CLIPS, "stand-in", requests,
                     None, scale)
    return raw, params, scale, plan, built


def test_the_plan_takes_a_ranking_of_the_class_table_only(paper_plan, tmp_path, monkeypatch):
    """`python -m aetasc.planning --ranking` checks the ranking against the metadata's class
    table as make_subsets does: a hand-edited class id the table lacks stops the plan with the
    file and line named, instead of silently planning without that class."""
    raw, params, scale, plan, built = paper_plan
    mids, _ = read_metadata(SAMPLE)
    ranked = [RankedClass(rank, mids.index(mid), mid, mid, 1.0 / rank)
              for rank, mid in enumerate(reversed(mids), start=1)]
    good = tmp_path / "ranking.csv"
    write_ranking(good, ranked)
    assert plan_from_metadata(params, SAMPLE, good, scale=scale)["ranking"] == "the given ranking"
    bad = tmp_path / "edited.csv"
    write_ranking(bad, [replace(ranked[0], mid="/m/not_a_class")] + ranked[1:])
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit, match=r"edited\.csv:2: .*'/m/not_a_class' is not in the class table"):
        plan_main(["--metadata", str(SAMPLE), "--ranking", str(bad)])
    write_ranking(bad, ranked[:-1])                                # a class left out
    with pytest.raises(SystemExit, match=rf"edited\.csv: ranks {len(mids) - 1} classes"):
        plan_main(["--metadata", str(SAMPLE), "--ranking", str(bad)])


def test_plan_builds_every_figure_subset(paper_plan):
    raw, params, scale, plan, built = paper_plan
    expected = expected_subset_ids(raw)
    assert set(plan["subsets"]) == set().union(*expected.values())
    for fig, ids in expected.items():
        assert set(plan["figures"][fig]["subsets"]) == ids, fig
    assert len(built) == len(plan["subsets"])
    for sid, rec in plan["subsets"].items():
        t = float(re.search(r"-T([\d.]+)h-", sid).group(1))
        assert rec["hours"] == t
        # the scaled-back train hours are T within one (scaled) clip
        assert abs(rec["train_hours"] - t) <= scale * CLIP_SECONDS / 3600, sid
        assert rec["val_clips"] > 0 and len(rec["classes"]) == rec["k"]


def test_plan_counts_the_union_of_unbalanced_clips(paper_plan, rows):
    raw, params, scale, plan, built = paper_plan
    unbalanced = {r[0]: r for r in rows["unbalanced_train"]}
    evaluation = {r[0]: r for r in rows["eval"]}
    train_ids = {s.ytid for sub in built for s in sub.train}
    val_ids = {s.ytid for sub in built for s in sub.val}
    assert train_ids <= set(unbalanced) and val_ids <= set(evaluation)
    fetch = plan["fetch"]
    assert fetch["aet_unbalanced"]["clips"] == round(scale * len(train_ids))
    hours = scale * sum(unbalanced[y][2] - unbalanced[y][1] for y in train_ids) / 3600
    assert fetch["aet_unbalanced"]["hours"] == pytest.approx(hours, abs=1e-5)
    assert fetch["aet_eval"]["clips"] == len(val_ids)               # evaluation is not scaled
    assert fetch["ranking_pool"]["clips"] == len(rows["balanced_train"])
    assert fetch["asc"]["clips"] == TUT_CLIPS
    # a class set's train clips at scale are round(scale * clips at sample size)
    by_id = {sid: rec for sid, rec in plan["subsets"].items()}
    for sub in built:
        t = sub.request.hours * scale
        rec = next(r for sid, r in by_id.items() if r["strategy"] == sub.request.strategy
                   and r["k"] == sub.request.k and r["hours"] == pytest.approx(t))
        assert rec["train_clips"] == round(scale * len(sub.train))


def test_plan_feature_storage(paper_plan):
    raw, params, scale, plan, built = paper_plan
    f = raw["worlds"]["paper"]["features"]
    samples = int(f["clip_seconds"] * f["sample_rate"])
    spec = torch.stft(torch.zeros(samples), n_fft=f["n_fft"], hop_length=f["hop_length"],
                      win_length=f["win_length"], window=torch.hann_window(f["win_length"]),
                      center=True, return_complex=True)
    frames = spec.shape[-1]
    assert frames == 1001                                          # 10 s at 32 kHz, hop 320
    for name, entry in plan["fetch"].items():
        assert entry["features_gb"] == pytest.approx(entry["clips"] * f["n_mels"] * frames * 2 / 1e9,
                                                     abs=1e-5), name
    parts = [v for k, v in plan["fetch"].items() if k != "total"]
    assert plan["fetch"]["total"]["clips"] == sum(p["clips"] for p in parts)


def test_plan_from_metadata_and_its_table(paper_plan):
    raw, params, scale, plan, built = paper_plan
    again = plan_from_metadata(params, SAMPLE, scale=scale)
    # from metadata alone the plan also prices the published mirror (hf_mirror.estimate_plan)
    assert {k: v for k, v in again.items() if k not in ("ranking", "mirror_estimate")} == \
        {k: v for k, v in plan.items() if k != "ranking"}
    assert again["ranking"].startswith("stand-in")
    text = format_plan(again)
    for fig in expected_subset_ids(raw):
        assert re.search(rf"^{fig}\s", text, re.M), fig
    for sid in plan["subsets"]:
        assert sid in text
    assert f"x {scale:g}" in text


def test_plan_cli_writes_the_plan(paper_plan, tmp_path):
    raw, params, scale, plan, built = paper_plan
    out = tmp_path / "plan.json"
    # from tmp_path, so no benchmark of the working copy (metrics/bench.json) is picked up
    proc = subprocess.run([sys.executable, "-m", "aetasc.planning", "--metadata", str(SAMPLE),
                           "--params", str(REPO / "params.yaml"), "--scale", repr(scale),
                           "--out", str(out)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = json.loads(out.read_text())
    assert written.keys() == plan.keys() | {"mirror_estimate"}
    assert written["subsets"].keys() == plan["subsets"].keys()
    assert written["fetch"] == plan["fetch"]
    assert written["figures"] == plan["figures"]
    assert "aet_unbalanced" in proc.stdout and "planned in" in proc.stdout


def test_plan_cli_reports_an_infeasible_t(tmp_path):
    # with no scale, the sample's few hours cannot hold the paper's T
    proc = subprocess.run([sys.executable, "-m", "aetasc.planning", "--metadata", str(SAMPLE),
                           "--params", str(REPO / "params.yaml")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert re.search(r"^plan: T = [\d.]+ h exceeds the [\d.]+ h the whole pool holds", proc.stderr, re.M)
    assert "asked for by worlds.paper.figures." in proc.stderr


# ------------------------------------------------------------------- a full metadata folder

@pytest.mark.slow
def test_plan_on_full_metadata():
    folder = os.environ.get("AUDIOSET_METADATA")
    if not folder or not Path(folder).is_dir():
        pytest.skip("AUDIOSET_METADATA does not point to a folder of AudioSet metadata")
    raw, params = paper_params()
    start = time.perf_counter()
    plan = plan_from_metadata(params, Path(folder), scale=FULL_PREFIX_SCALE)
    assert time.perf_counter() - start < 60
    expected = expected_subset_ids(raw)
    assert set(plan["subsets"]) == set().union(*expected.values())
    for fig, ids in expected.items():
        assert set(plan["figures"][fig]["subsets"]) == ids, fig
    for sid, rec in plan["subsets"].items():
        assert abs(rec["train_hours"] - rec["hours"]) <= FULL_PREFIX_SCALE * CLIP_SECONDS / 3600, sid
    assert plan["fetch"]["aet_unbalanced"]["clips"] > 0
