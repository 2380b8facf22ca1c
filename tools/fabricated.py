"""Stand-ins for the paper's data where it is absent: noise in the real data sets' formats.

TUT Urban Acoustic Scenes 2018 as released (10 s, 48 kHz, 24-bit stereo WAV; meta.csv and
the fold files) and AudioSet as acquired (segment CSVs, class table, ontology; one 10 s clip
per id). The audio is noise, so nothing learnt from it means anything: it exists to drive
the paper world's code path at the paper's shapes and formats (decoding, resampling,
feature sizes, memory, speed) on a machine without the real data.
"""
from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from aetasc.data.audioset import CLASS_TABLE, SPLITS, EventClass, Segment, write_class_labels, write_segments_csv
from aetasc.data.tut2018 import SceneClip, write_tut2018

TUT_SCENES = ("airport", "bus", "metro", "metro_station", "park", "public_square", "shopping_mall",
              "street_pedestrian", "street_traffic", "tram")
TUT_CITIES = ("barcelona", "helsinki", "london", "paris", "stockholm", "vienna")


def _write_noise(job: tuple[str, float, int, int, str, int]) -> None:
    path, seconds, sample_rate, channels, subtype, seed = job
    rng = np.random.default_rng(seed)
    audio = 0.1 * rng.standard_normal((int(seconds * sample_rate), channels), dtype=np.float32)
    sf.write(path, np.clip(audio, -1, 1), sample_rate, subtype=subtype)


def _write_all(jobs: list[tuple], workers: int) -> None:
    if workers <= 1:
        for job in jobs:
            _write_noise(job)
        return
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_noise, jobs, chunksize=8))


def fabricate_tut2018(root: str | Path, scenes: int = 10, train_cities: int = 4, eval_cities: int = 2,
                      locations: int = 2, segments: int = 3, seconds: float = 10.0,
                      sample_rate: int = 48000, workers: int = 1) -> list[SceneClip]:
    """A development set in TUT 2018's layout; evaluation cities are disjoint from training's."""
    if not 1 <= scenes <= len(TUT_SCENES) or train_cities + eval_cities > len(TUT_CITIES):
        raise ValueError(f"at most {len(TUT_SCENES)} scenes and {len(TUT_CITIES)} cities")
    root = Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    clips, jobs = [], []
    for scene in TUT_SCENES[:scenes]:
        for c, city in enumerate(TUT_CITIES[:train_cities + eval_cities]):
            split = "train" if c < train_cities else "evaluate"
            for loc in range(locations):
                for seg in range(segments):
                    name = f"audio/{scene}-{city}-{loc}-{seg}-a.wav"
                    clips.append(SceneClip(name, scene, f"{city}-{loc}", "a", split))
                    jobs.append((str(root / name), seconds, sample_rate, 2, "PCM_24", len(jobs)))
    _write_all(jobs, workers)
    write_tut2018(root, clips)
    return clips


def fabricate_audioset(tables: str | Path, clips: str | Path, classes: int = 40,
                       balanced_per_class: int = 5, eval_per_class: int = 3, unbalanced: int = 400,
                       seconds: float = 10.0, sample_rate: int = 32000, workers: int = 1,
                       seed: int = 0) -> list[EventClass]:
    """AudioSet's tables (in `tables`) and one mono 16-bit WAV per segment (in `clips`).

    Class 0 ("Speech") is on about half of the unbalanced clips and class 1 ("Music") on a
    third, as in AudioSet; every clip carries 1-3 labels.
    """
    rng = np.random.default_rng(seed)
    tables, clips = Path(tables), Path(clips)
    tables.mkdir(parents=True, exist_ok=True)
    clips.mkdir(parents=True, exist_ok=True)
    names = ["Speech", "Music"] + [f"Event {i}" for i in range(2, classes)]
    table = [EventClass(i, f"/m/fab{i:04d}", name) for i, name in enumerate(names)]
    write_class_labels(tables / CLASS_TABLE, table)
    (tables / "ontology.json").write_text(json.dumps(
        [{"id": c.mid, "name": c.name, "child_ids": []} for c in table]))
    jobs = []

    def segment(split: str, first: int) -> Segment:
        labels = {first}
        if rng.random() < 0.5:
            labels.add(0)
        if rng.random() < 0.33:
            labels.add(1)
        labels.add(int(rng.integers(classes)))
        ytid = f"{split[:1]}{len(jobs):010d}"   # 11 characters, like YouTube's
        jobs.append((str(clips / f"{ytid}.wav"), seconds, sample_rate, 1, "PCM_16", seed * 1_000_003 + len(jobs)))
        return Segment(ytid, 30.0, 30.0 + seconds, tuple(table[i].mid for i in sorted(labels)))

    per_split = {"balanced_train": [segment("balanced_train", c) for c in range(classes) for _ in range(balanced_per_class)],
                 "eval": [segment("eval", c) for c in range(classes) for _ in range(eval_per_class)],
                 "unbalanced_train": [segment("unbalanced_train", int(rng.integers(classes))) for _ in range(unbalanced)]}
    for split, name in SPLITS.items():
        write_segments_csv(tables / name, per_split[split])
    _write_all(jobs, workers)
    return table
