"""A procedural acoustic world that stands in for TUT 2018 + AudioSet.

What it models, and why:
- Event classes: each has a spectro-temporal signature (harmonic tone, noise band, chirp,
  click train, modulated rumble, and the two dominant classes "Speech" and "Music") and
  every instance varies it (pitch, bandwidth, duration, level, onset).
- Scenes: a background texture (a spectral envelope partly shared by all scenes, so they
  are not trivially separable, plus a slow modulation) and a handful of scene-typical
  events with their own rates. Some event classes occur in scenes, the others never do:
  that is the ground truth against which the tagger-based ranking is checked.
- Cities and locations: each city colours its recordings (a smooth EQ), each recording
  location perturbs its scene's background, and the train/evaluate split keeps cities
  (hence locations) apart, so a model must generalize across locations and the small
  training set can be overfitted, the regime in which the paper's question matters.
- The event pool: multi-label clips with long-tailed class frequencies, two dominant
  classes standing in for AudioSet's speech and music, over generic backgrounds.

Every clip is drawn from its own random stream, seeded by (world seed, clip kind, clip
number): the world is the same for a seed whatever the number of worker processes.
"""
from __future__ import annotations

import csv
import hashlib
import os
import string
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile as sf

from aetasc.config import GeneratorParams
from aetasc.progress import bar as progress_bar
from aetasc.data.audioset import (CLASS_TABLE, SPLITS, Availability, EventClass, Segment,
                       write_availability, write_class_labels, write_segments_csv)
from aetasc.data.tut2018 import SceneClip, write_tut2018

GROUND_TRUTH = "scene_events.csv"
SCENE_NAMES = ("airport", "bus", "metro", "metro_station", "park", "public_square",
               "shopping_mall", "street_pedestrian", "street_traffic", "tram")
CITY_NAMES = ("barcelona", "helsinki", "london", "paris", "stockholm", "vienna",
              "amsterdam", "lisbon", "lyon", "madrid", "milan", "prague")
KINDS = ("tone", "noise_band", "chirp", "clicks", "rumble")


@dataclass(frozen=True)
class EventSpec:
    index: int
    mid: str
    name: str
    kind: str
    params: dict
    in_scenes: bool
    pool_prob: float   # probability that a pool clip carries this class


@dataclass(frozen=True)
class SceneSpec:
    name: str
    envelope: np.ndarray = field(repr=False)   # log-magnitude (dB) on the clip's rfft grid
    modulation_hz: float
    event_rates: dict                          # event index -> expected occurrences per clip


@dataclass(frozen=True)
class World:
    params: GeneratorParams
    events: tuple[EventSpec, ...]
    scenes: tuple[SceneSpec, ...]
    city_eq: np.ndarray = field(repr=False)    # (cities, bins) dB


# ---------------------------------------------------------------------------- the world

def _rng(seed: int, *keys) -> np.random.Generator:
    # A stable stream per (seed, keys): independent of how clips are spread over workers.
    digest = hashlib.sha256(repr((seed,) + keys).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _freqs(p: GeneratorParams) -> np.ndarray:
    n = int(round(p.clip_seconds * p.sample_rate))
    return np.fft.rfftfreq(n, 1.0 / p.sample_rate)


def _smooth_envelope(rng, f: np.ndarray, bumps: int, depth_db: float, tilt: float) -> np.ndarray:
    """A smooth random spectral envelope in dB: a tilt plus Gaussian bumps on log2 f."""
    lf = np.log2(np.maximum(f, 20.0) / 100.0)
    env = -tilt * lf * 3.0
    for _ in range(bumps):
        centre = rng.uniform(0.0, lf.max())
        width = rng.uniform(0.3, 1.2)
        env += rng.uniform(-depth_db, depth_db) * np.exp(-0.5 * ((lf - centre) / width) ** 2)
    return env


def _event_specs(p: GeneratorParams, rng) -> list[EventSpec]:
    nyq = p.sample_rate / 2
    # Speech and music dominate the pool, as in AudioSet; the rest have a Zipf-like tail
    # in a random order, so abundance says nothing about whether a class occurs in scenes.
    tail = 0.15 * np.arange(1, p.events - 1, dtype=float) ** -0.5
    rng.shuffle(tail)
    probs = np.concatenate([[0.45, 0.35], tail])
    # Speech and music occur in scenes (people talk in airports); the other scene events
    # are a random subset of the remaining classes.
    scene_set = {0, 1} | set((rng.permutation(p.events - 2)[: p.scene_events - 2] + 2).tolist())
    # Each kind's classes take evenly spaced slots of its main parameter (log scale, in a
    # random order, jittered within the slot): no two classes are near-duplicates.
    kinds = [KINDS[(i - 2) % len(KINDS)] for i in range(2, p.events)]
    slots = {k: iter(rng.permutation(kinds.count(k))) for k in KINDS}

    def spread(kind: str, lo: float, hi: float) -> float:
        n = kinds.count(kind)
        pos = (next(slots[kind]) + rng.uniform(0.25, 0.75)) / n
        return float(lo * (hi / lo) ** pos)

    specs = []
    for i in range(p.events):
        if i == 0:
            kind, prm, name = "speech", {"f0": rng.uniform(110, 200)}, "Speech"
        elif i == 1:
            kind, prm, name = "music", {"root": rng.uniform(180, 330)}, "Music"
        else:
            kind = kinds[i - 2]
            dur = float(rng.uniform(0.15, 0.9))
            if kind == "tone":
                prm = {"f0": spread(kind, 150, min(2500, nyq / 4)), "harmonics": int(rng.integers(1, 6)),
                       "vibrato": rng.uniform(0, 8), "dur": dur}
                label = f"tone {prm['f0']:.0f} Hz"
            elif kind == "noise_band":
                prm = {"fc": spread(kind, 300, nyq * 0.75), "octaves": rng.uniform(0.2, 0.6), "dur": dur}
                label = f"noise band {prm['fc'] / 1000:.1f} kHz"
            elif kind == "chirp":
                centre = spread(kind, 300, nyq * 0.5)
                span = rng.uniform(1.5, 3.0) ** (1 if i % 2 else -1)      # up or down
                f0, f1 = centre / np.sqrt(span), centre * np.sqrt(span)
                prm = {"f0": f0, "f1": f1, "dur": dur}
                label = f"chirp {'up' if f1 > f0 else 'down'} {min(f0, f1) / 1000:.1f}-{max(f0, f1) / 1000:.1f} kHz"
            elif kind == "clicks":
                prm = {"rate": spread(kind, 3, 25), "fres": rng.uniform(500, nyq * 0.7), "dur": dur + 0.4}
                label = f"clicks {prm['rate']:.0f}/s"
            else:
                prm = {"fc": spread(kind, 60, 600), "mod": rng.uniform(2, 15), "dur": dur + 0.5}
                label = f"rumble {prm['fc']:.0f} Hz"
            name = f"Event {i:02d} ({label})"
        specs.append(EventSpec(i, f"/m/syn{i:03d}", name, kind, prm, i in scene_set, float(probs[i])))
    return specs


def build_world(p: GeneratorParams) -> World:
    """The classes, scenes and cities of a world: a pure function of the params."""
    rng = _rng(p.seed, "world")
    f = _freqs(p)
    events = _event_specs(p, rng)
    scene_events = [e.index for e in events if e.in_scenes]
    common = _smooth_envelope(rng, f, bumps=4, depth_db=10.0, tilt=1.0)
    # Scene events other than speech and music are dealt out evenly, so that each is
    # typical of about the same number of scenes: none is "in scenes" only in name.
    deck = [e for e in scene_events if e > 1]
    dealt = _deal(deck, p.scenes, p.events_per_scene, rng)
    scenes = []
    for s in range(p.scenes):
        own = _smooth_envelope(rng, f, bumps=4, depth_db=12.0, tilt=rng.uniform(0.4, 1.6))
        envelope = p.scene_similarity * common + (1.0 - p.scene_similarity) * own
        # Speech is typical of half of the scenes, music of a few.
        chosen = dealt[s]
        if rng.random() < 0.5:
            chosen[-1] = 0
        elif rng.random() < 0.3:
            chosen[-1] = 1
        rates = {int(e): float(rng.uniform(0.5, 1.5)) for e in chosen}
        scenes.append(SceneSpec(_scene_name(s), envelope, float(rng.uniform(0.1, 2.0)), rates))
    city_eq = np.stack([_smooth_envelope(rng, f, bumps=3, depth_db=p.city_variation_db, tilt=0.0)
                        for _ in range(p.cities)])
    return World(p, tuple(events), tuple(scenes), city_eq)


def _deal(deck: list[int], hands: int, size: int, rng) -> list[list[int]]:
    """`hands` lists of `size` distinct cards, every card dealt as evenly as possible."""
    out, pile = [], []
    for _ in range(hands):
        hand = []
        while len(hand) < min(size, len(deck)):
            if not pile:
                pile = rng.permutation(deck).tolist()
            card = next((c for c in pile if c not in hand), None)
            if card is None:                  # what is left is already in this hand
                pile = rng.permutation(deck).tolist()
                continue
            pile.remove(card)
            hand.append(card)
        out.append(hand)
    return out


def _scene_name(i: int) -> str:
    return SCENE_NAMES[i] if i < len(SCENE_NAMES) else f"scene_{i:02d}"


def _city_name(i: int) -> str:
    return CITY_NAMES[i] if i < len(CITY_NAMES) else f"city{i:02d}"


# ------------------------------------------------------------------------------ signals

def _envelope(n: int, sr: int, rng) -> np.ndarray:
    attack = max(1, int(rng.uniform(0.005, 0.05) * sr))
    env = np.ones(n)
    env[:attack] = np.linspace(0.0, 1.0, attack)
    decay = np.linspace(0.0, rng.uniform(1.0, 4.0), n)
    return env * np.exp(-decay)


def _fast_len(n: int) -> int:
    # Event lengths are drawn at random, often with large prime factors, where an FFT is
    # many times slower: filter at the next length of small factors and cut back to n.
    return scipy.fft.next_fast_len(n, real=True)


def _band_noise(n: int, sr: int, fc: float, octaves: float, rng) -> np.ndarray:
    m = _fast_len(n)
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1.0 / sr)
    spec *= np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / fc) / octaves) ** 2)
    return np.fft.irfft(spec, m)[:n]


def _harmonic(t: np.ndarray, f0, harmonics: int, rolloff: float = 0.6) -> np.ndarray:
    """Harmonic stack; f0 may be a per-sample contour. sin(h * phase) by the recurrence
    sin((h + 1) x) = 2 cos(x) sin(h x) - sin((h - 1) x): two trigonometric calls, not one per
    harmonic (the generator's hottest loop)."""
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(f0, t.shape)) * (t[1] - t[0])
    two_cos = 2 * np.cos(phase)
    below, s = np.zeros_like(phase), np.sin(phase)
    out = s.copy()
    for h in range(2, harmonics + 1):
        below, s = s, two_cos * s - below
        out += rolloff ** (h - 1) * s
    return out


def render_event(spec: EventSpec, sr: int, rng) -> np.ndarray:
    """One instance of an event class, unit RMS; parameters jittered per instance."""
    prm = spec.params
    jitter = lambda v, rel=0.08: v * rng.uniform(1 - rel, 1 + rel)  # noqa: E731
    if spec.kind == "speech":
        dur = rng.uniform(0.5, 1.5)
        t = np.arange(int(dur * sr)) / sr
        f0 = jitter(prm["f0"], 0.15) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 3) * t))
        voiced = _harmonic(t, f0, 12, 0.8)
        m = _fast_len(len(t))
        formants = np.fft.rfft(voiced, m)          # zero-padded to a fast length
        f = np.fft.rfftfreq(m, 1.0 / sr)
        shape = sum(np.exp(-0.5 * ((f - jitter(fm, 0.2)) / 150.0) ** 2) for fm in (500, 1500, 2500))
        x = np.fft.irfft(formants * shape, m)[:len(t)]
        x *= 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3.5, 5.5) * t + rng.uniform(0, 6.3))) ** 2
    elif spec.kind == "music":
        notes = int(rng.integers(2, 6))
        note_len = int(rng.uniform(0.18, 0.35) * sr)
        t = np.arange(note_len) / sr
        scale = (0, 2, 4, 5, 7, 9, 11, 12)
        parts = []
        for _ in range(notes):
            root = jitter(prm["root"], 0.02) * 2 ** (rng.choice(scale) / 12)
            chord = sum(_harmonic(t, root * 2 ** (iv / 12), 4, 0.5) for iv in (0, 4, 7))
            parts.append(chord * _envelope(note_len, sr, rng))
        x = np.concatenate(parts)
    else:
        n = max(int(jitter(prm["dur"], 0.3) * sr), sr // 20)
        t = np.arange(n) / sr
        if spec.kind == "tone":
            f0 = jitter(prm["f0"]) * (1 + 0.01 * np.sin(2 * np.pi * prm["vibrato"] * t))
            x = _harmonic(t, f0, prm["harmonics"])
        elif spec.kind == "noise_band":
            x = _band_noise(n, sr, jitter(prm["fc"]), jitter(prm["octaves"], 0.2), rng)
        elif spec.kind == "chirp":
            f0, f1 = jitter(prm["f0"]), jitter(prm["f1"])
            x = _harmonic(t, f0 * (f1 / f0) ** (t / t[-1]), 2)
        elif spec.kind == "clicks":
            x = np.zeros(n)
            period = sr / jitter(prm["rate"], 0.15)
            starts = np.arange(rng.uniform(0, period), n, period).astype(int)
            ring = np.exp(-np.arange(int(0.015 * sr)) / (0.004 * sr)) * \
                np.sin(2 * np.pi * jitter(prm["fres"]) * np.arange(int(0.015 * sr)) / sr)
            for s in starts:
                m = min(len(ring), n - s)
                x[s:s + m] += ring[:m]
        else:  # rumble
            x = _band_noise(n, sr, jitter(prm["fc"]), 0.5, rng)
            x *= (0.55 + 0.45 * np.sin(2 * np.pi * jitter(prm["mod"], 0.15) * t)) ** 2
        x = x * _envelope(n, sr, rng)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def _place(clip: np.ndarray, event: np.ndarray, gain: float, rng) -> None:
    n = len(clip)
    start = int(rng.integers(-len(event) // 3, n - len(event) // 2 + 1))
    a, b = max(start, 0), min(start + len(event), n)
    if b > a:
        clip[a:b] += gain * event[a - start:b - start]


def _shaped_noise(envelope_db: np.ndarray, n: int, rng) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n)) * 10 ** (envelope_db / 20)
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def _to_pcm_range(x: np.ndarray, rng) -> np.ndarray:
    peak = np.max(np.abs(x)) + 1e-12
    return (x / peak * 10 ** (rng.uniform(-12.0, -1.0) / 20)).astype(np.float32)


def render_scene_clip(world: World, scene: int, city: int, location: int, segment: int):
    """One 'recording' of a scene; returns (audio, event counts)."""
    p = world.params
    n = int(round(p.clip_seconds * p.sample_rate))
    loc_rng = _rng(p.seed, "location", scene, city, location)
    f = _freqs(p)
    location_env = _smooth_envelope(loc_rng, f, bumps=3, depth_db=p.location_variation_db, tilt=0.0)
    rng = _rng(p.seed, "scene_clip", scene, city, location, segment)
    spec = world.scenes[scene]
    x = _shaped_noise(spec.envelope + location_env, n, rng)
    t = np.arange(n) / p.sample_rate
    x *= 1 + 0.3 * np.sin(2 * np.pi * spec.modulation_hz * t + rng.uniform(0, 6.3))
    counts = {}
    rates = dict(spec.event_rates)
    # Now and then an event typical of another scene strays in.
    stray = int(rng.choice([e.index for e in world.events if e.in_scenes]))
    rates[stray] = rates.get(stray, 0.0) + 0.15
    for e, rate in rates.items():
        k = int(rng.poisson(rate))
        for _ in range(k):
            snr_db = rng.uniform(*p.scene_event_snr_db)
            _place(x, render_event(world.events[e], p.sample_rate, rng), 10 ** (snr_db / 20), rng)
        if k:
            counts[e] = k
    x = np.fft.irfft(np.fft.rfft(x) * 10 ** (world.city_eq[city] / 20), n)
    return _to_pcm_range(x, rng), counts


def _pool_labels(world: World, rng, must: int | None) -> list[int]:
    probs = np.array([e.pool_prob for e in world.events])
    while True:
        labels = set(np.flatnonzero(rng.random(len(probs)) < probs).tolist())
        if must is not None:
            labels.add(must)
        if labels:
            return sorted(labels)


def render_pool_clip(world: World, split: str, number: int, must: int | None = None):
    """One AudioSet-like clip: a generic background plus events; returns (audio, labels)."""
    p = world.params
    n = int(round(p.clip_seconds * p.sample_rate))
    rng = _rng(p.seed, "pool_clip", split, number)
    labels = _pool_labels(world, rng, must)
    env = _smooth_envelope(rng, _freqs(p), bumps=3, depth_db=10.0, tilt=rng.uniform(0.3, 1.5))
    # Backgrounds as loud as a scene's at times: the tagger must learn events in noise.
    x = _shaped_noise(env, n, rng) * 10 ** (rng.uniform(-18.0, 0.0) / 20)
    for e in labels:
        for _ in range(int(rng.integers(1, 3))):
            _place(x, render_event(world.events[e], p.sample_rate, rng), 10 ** (rng.uniform(-3.0, 6.0) / 20), rng)
    return _to_pcm_range(x, rng), labels


def _ytid(seed: int, split: str, number: int) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    r = _rng(seed, "ytid", split, number)
    return "".join(alphabet[i] for i in r.integers(0, len(alphabet), size=11))


# ------------------------------------------------------------------------------ writing

def _write(path: Path, audio: np.ndarray, sr: int) -> None:
    tmp = path.with_name(path.name + ".part")
    sf.write(tmp, audio, sr, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


# Each worker process builds the world once (it is a pure function of the params) instead
# of receiving its arrays with every job.
_WORLD: World | None = None


def _init_worker(p: GeneratorParams) -> None:
    global _WORLD
    _WORLD = build_world(p)


def _asc_job(args):
    root, scene, city, location, segment, split = args
    audio, counts = render_scene_clip(_WORLD, scene, city, location, segment)
    name = f"{_scene_name(scene)}-{_city_name(city)}-{location}-{segment}-a.wav"
    _write(Path(root) / "audio" / name, audio, _WORLD.params.sample_rate)
    return SceneClip(f"audio/{name}", _scene_name(scene), f"{_city_name(city)}-{location}",
                     "a", split), counts


def _pool_job(args):
    root, split, number, must = args
    p = _WORLD.params
    audio, labels = render_pool_clip(_WORLD, split, number, must)
    ytid = _ytid(p.seed, split, number)
    _write(Path(root) / "audio" / f"{ytid}.wav", audio, p.sample_rate)
    start = float(30 + number % 200)
    return Segment(ytid, start, start + p.clip_seconds, tuple(_WORLD.events[e].mid for e in labels))


def _run(p: GeneratorParams, jobs, fn, desc: str, workers: int | None):
    workers = workers or max(1, min(len(os.sched_getaffinity(0)), 8))
    if workers == 1:
        _init_worker(p)
        return [fn(j) for j in progress_bar(jobs, desc=desc, unit="clip")]
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(p,)) as pool:
        return list(progress_bar(pool.map(fn, jobs, chunksize=32), total=len(jobs), desc=desc, unit="clip"))


def generate_asc(p: GeneratorParams, root: str | Path, workers: int | None = None) -> None:
    """Write the scene data set in the TUT 2018 layout, plus the scene-event ground truth."""
    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    world = build_world(p)
    evaluate = set(range(p.cities - p.evaluate_cities, p.cities))
    jobs = [(str(root), s, c, loc, seg, "evaluate" if c in evaluate else "train")
            for s in range(p.scenes) for c in range(p.cities)
            for loc in range(p.locations_per_city) for seg in range(p.segments_per_location)]
    results = _run(p, jobs, _asc_job, "scene clips", workers)
    write_tut2018(root, [clip for clip, _ in results])
    _write_ground_truth(root / GROUND_TRUTH, world, results)


def _write_ground_truth(path: Path, world: World, results) -> None:
    """Per (scene, event): the rate the world uses and the occurrences actually rendered."""
    clips_per_scene = {s.name: 0 for s in world.scenes}
    rendered = {}
    for clip, counts in results:
        clips_per_scene[clip.scene] += 1
        for e, k in counts.items():
            rendered[clip.scene, e] = rendered.get((clip.scene, e), 0) + k
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["scene", "mid", "display_name", "in_scenes", "typical_rate", "occurrences_per_clip"])
        for s in world.scenes:
            for e in world.events:
                occ = rendered.get((s.name, e.index), 0) / max(clips_per_scene[s.name], 1)
                w.writerow([s.name, e.mid, e.name, int(e.in_scenes),
                            f"{s.event_rates.get(e.index, 0.0):.3f}", f"{occ:.3f}"])


def generate_aet(p: GeneratorParams, root: str | Path, workers: int | None = None) -> None:
    """Write the event pool in the AudioSet layout (all clips present)."""
    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    world = build_world(p)
    write_class_labels(root / CLASS_TABLE, [EventClass(e.index, e.mid, e.name) for e in world.events])
    per_class = {"balanced_train": p.balanced_clips_per_class, "eval": p.eval_clips_per_class}
    availability = []
    for split, csv_name in SPLITS.items():
        if split in per_class:
            musts = [e for e in range(p.events) for _ in range(per_class[split])]
        else:
            musts = [None] * p.unbalanced_clips
        jobs = [(str(root), split, i, m) for i, m in enumerate(musts)]
        segments = _run(p, jobs, _pool_job, split, workers)
        write_segments_csv(root / csv_name, segments)
        availability += [Availability(s.ytid, split, "present", f"audio/{s.ytid}.wav") for s in segments]
    write_availability(root, availability)


def read_ground_truth(root: str | Path) -> dict[str, bool]:
    """mid -> whether the event class occurs in scenes, from the synthetic ASC folder."""
    with (Path(root) / GROUND_TRUTH).open(newline="") as f:
        return {r["mid"]: r["in_scenes"] == "1" for r in csv.DictReader(f)}

