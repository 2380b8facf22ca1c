import csv
import hashlib
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from aetasc.config import parse_params
from aetasc.data import synthetic
from aetasc.data.audioset import read_audioset
from aetasc.data.tut2018 import read_tut2018
from conftest import tiny_raw_params


def _generator(**overrides):
    raw = tiny_raw_params()
    raw["worlds"]["synthetic"]["source"].update(overrides)
    return parse_params(raw).active.source


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    p = _generator()
    synthetic.generate_asc(p, root / "asc", workers=2)
    synthetic.generate_aet(p, root / "aet", workers=2)
    return p, root


def test_scene_layout_is_read_by_the_tut2018_reader(world):
    p, root = world
    data = read_tut2018(root / "asc")
    assert len(data.clips) == p.scenes * p.cities * p.locations_per_city * p.segments_per_location
    assert len(data.scenes) == p.scenes
    train, evaluate = data.split("train"), data.split("evaluate")
    assert train and evaluate
    # locations and cities are kept apart by the split
    assert not {c.identifier for c in train} & {c.identifier for c in evaluate}
    assert not {c.identifier.split("-")[0] for c in train} & {c.identifier.split("-")[0] for c in evaluate}
    audio, sr = sf.read(root / "asc" / data.clips[0].filename)
    assert sr == p.sample_rate and len(audio) == int(p.clip_seconds * p.sample_rate)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.01


def test_event_layout_is_read_by_the_audioset_reader(world):
    p, root = world
    data = read_audioset(root / "aet")
    assert len(data.classes) == p.events
    assert len(data.segments["unbalanced_train"]) == p.unbalanced_clips
    # every class has its quota in the balanced and eval sets
    for split, quota in (("balanced_train", p.balanced_clips_per_class), ("eval", p.eval_clips_per_class)):
        counts = Counter(m for s in data.segments[split] for m in s.labels)
        assert all(counts[c.mid] >= quota for c in data.classes)
    all_ids = [s.ytid for segs in data.segments.values() for s in segs]
    assert len(all_ids) == len(set(all_ids))
    assert all((root / "aet" / data.paths[i]).is_file() for i in all_ids)


def test_speech_and_music_dominate_the_pool(world):
    _, root = world
    data = read_audioset(root / "aet")
    counts = Counter(m for s in data.segments["unbalanced_train"] for m in s.labels)
    names = {c.mid: c.name for c in data.classes}
    top2 = {names[m] for m, _ in counts.most_common(2)}
    assert top2 == {"Speech", "Music"}


def test_ground_truth_separates_scene_events_from_the_rest(world):
    p, root = world
    truth = synthetic.read_ground_truth(root / "asc")
    assert sum(truth.values()) == p.scene_events
    with (root / "asc" / synthetic.GROUND_TRUTH).open() as f:
        rows = list(csv.DictReader(f))
    # events that never occur in scenes were never rendered into a scene clip
    assert all(float(r["occurrences_per_clip"]) == 0 for r in rows if r["in_scenes"] == "0")
    assert sum(float(r["occurrences_per_clip"]) for r in rows if r["in_scenes"] == "1") > 0


def test_same_seed_same_world_whatever_the_workers(world, tmp_path):
    p, root = world
    synthetic.generate_asc(p, tmp_path / "asc", workers=1)
    assert _digest(tmp_path / "asc") == _digest(root / "asc")


def test_other_seed_other_world(world, tmp_path):
    p, root = world
    synthetic.generate_asc(_generator(seed=p.seed + 1), tmp_path / "asc", workers=1)
    assert _digest(tmp_path / "asc") != _digest(root / "asc")


def test_event_instances_vary_but_keep_their_class_signature():
    p = _generator()
    world = synthetic.build_world(p)
    spec = world.events[2]
    a = synthetic.render_event(spec, p.sample_rate, np.random.default_rng(0))
    b = synthetic.render_event(spec, p.sample_rate, np.random.default_rng(1))
    assert not (len(a) == len(b) and np.allclose(a, b))
    assert np.isclose(np.sqrt(np.mean(a ** 2)), 1.0, atol=1e-3)
