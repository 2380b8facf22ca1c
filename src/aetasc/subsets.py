"""AET data sets of k event classes and T hours, as the paper builds them from AudioSet.

Class choice (the strategies of Sec. 4.2 and 4.4):
- random: k classes drawn at random (seeded);
- correlated: the k classes a tagger ranks most likely present in the scene clips;
- uncorrelated: the k classes it ranks least likely;
- abundant: the k classes with the most clips in the pool (k = 2: speech and music).

Clips: every clip of the training pool carrying at least one of the k classes is a
candidate; the candidates are shuffled once per (class set, seed) and the shortest prefix
reaching T hours is taken, so a smaller T is a subset of a larger one. Labels are restricted
to the k classes. The validation set is every eval clip carrying one of the classes: fixed
for a class set, whatever T.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.audioset import Segment


UNION = "union.csv"


class SubsetError(ValueError):
    """The pool cannot supply what an experiment asks for."""


@dataclass(frozen=True, order=True)
class SubsetRequest:
    strategy: str
    k: int
    hours: float
    seed: int

    @property
    def id(self) -> str:
        return f"{self.strategy}-k{self.k}-T{self.hours:g}h-seed{self.seed}"


@dataclass(frozen=True)
class Subset:
    request: SubsetRequest
    classes: tuple[str, ...]          # mids, in target-column order
    train: tuple[Segment, ...]        # labels restricted to `classes`
    val: tuple[Segment, ...]

    @property
    def train_hours(self) -> float:
        return sum(s.seconds for s in self.train) / 3600


def _stable_seed(*keys) -> int:
    return int.from_bytes(hashlib.sha256(repr(keys).encode()).digest()[:8], "little")


def abundance(segments: list[Segment]) -> Counter:
    return Counter(m for s in segments for m in s.labels)


def choose_classes(strategy: str, k: int, seed: int, ranking: list[str], counts: Counter) -> tuple[str, ...]:
    """The k class mids a strategy picks. `ranking` lists every class, most likely first."""
    if k > len(ranking):
        raise SubsetError(f"k = {k} but the pool has only {len(ranking)} event classes")
    if strategy == "correlated":
        return tuple(ranking[:k])
    if strategy == "uncorrelated":
        return tuple(ranking[-k:][::-1])
    if strategy == "abundant":
        # ties broken by the ranking's class order, so the choice is deterministic
        order = sorted(ranking, key=lambda m: (-counts[m], ranking.index(m)))
        return tuple(order[:k])
    if strategy == "random":
        rng = np.random.default_rng(_stable_seed("classes", k, seed))
        return tuple(ranking[i] for i in sorted(rng.choice(len(ranking), size=k, replace=False)))
    raise SubsetError(f"unknown strategy {strategy!r}")


def _restrict(segments, classes) -> list[Segment]:
    wanted = set(classes)
    return [Segment(s.ytid, s.start, s.end, tuple(m for m in s.labels if m in wanted))
            for s in segments if wanted.intersection(s.labels)]


def check_pool_hours(params, pool: list[Segment]) -> None:
    """Refuse a T that no choice of classes can reach: more than the whole event pool holds.
    Runs as soon as the pool is known (before the ranking trains), naming the params key."""
    total = sum(s.seconds for s in pool) / 3600
    for key, hours in params.active.figures.hours():
        if hours > total:
            raise SubsetError(f"worlds.{params.world}.figures.{key} = {hours:g} h exceeds the "
                              f"{total:.3f} h of clips the event pool holds (unbalanced_train, "
                              f"{len(pool)} clips present): no choice of classes can reach it")


def build_subset(request: SubsetRequest, classes: tuple[str, ...], pool: list[Segment],
                 evaluation: list[Segment]) -> Subset:
    candidates = _restrict(pool, classes)
    available = sum(s.seconds for s in candidates) / 3600
    if available < request.hours:
        raise SubsetError(f"{request.id}: asked for {request.hours:g} h but the pool holds only "
                          f"{available:.3f} h of clips carrying these {len(classes)} classes "
                          f"({len(candidates)} clips)")
    rng = np.random.default_rng(_stable_seed("clips", classes, request.seed))
    order = rng.permutation(len(candidates))
    seconds = np.cumsum([candidates[i].seconds for i in order])
    target = request.hours * 3600
    n = int(np.searchsorted(seconds, target))           # first prefix reaching the target
    if n > 0 and target - seconds[n - 1] < seconds[n] - target:
        n -= 1                                           # the shorter prefix is closer
    train = tuple(candidates[i] for i in order[:n + 1])
    val = tuple(_restrict(evaluation, classes))
    if not val:
        raise SubsetError(f"{request.id}: no eval clip carries any of the classes {classes}")
    return Subset(request, classes, train, val)


# ---------------------------------------------------------------------- files on disk

def write_clip_list(path: Path, segments) -> None:
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["ytid", "start", "end", "labels"])
        for s in segments:
            w.writerow([s.ytid, f"{s.start:.3f}", f"{s.end:.3f}", ",".join(s.labels)])


def read_clip_list(path: Path) -> list[Segment]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (run the make_subsets stage)")
    with path.open(newline="") as f:
        return [Segment(r["ytid"], float(r["start"]), float(r["end"]), tuple(r["labels"].split(",")))
                for r in csv.DictReader(f)]


def make_subsets(requests: list[SubsetRequest], ranking: list[str], layout, scenes_dataset,
                 out_dir: Path, asked_by: dict[SubsetRequest, str] | None = None) -> dict:
    """Build every requested subset (all checked before anything is written) into out_dir.

    out_dir/index.json     subset id -> classes, files, hours, clip counts
    out_dir/<id>.train.csv, <id>.val.csv   ytid,start,end,labels (labels restricted to k)
    out_dir/union.csv      ytid,split of every AET clip some experiment needs
    out_dir/asc_clips.json the scene clips of each fold, with their scenes
    `ranking` lists every class mid, most likely present in scenes first. `asked_by` names
    the params key behind each request, for the error messages.
    """
    pool = list(layout.segments["unbalanced_train"])
    evaluation = list(layout.segments["eval"])
    counts = abundance(pool)
    built = []
    for r in requests:
        try:
            classes = choose_classes(r.strategy, r.k, r.seed, ranking, counts)
            built.append(build_subset(r, classes, pool, evaluation))
        except SubsetError as err:
            raise SubsetError(f"{err} (asked for by {(asked_by or {}).get(r, r.id)})") from None
    out_dir = Path(out_dir)
    index, union = {}, {}
    for sub in built:
        rid = sub.request.id
        write_clip_list(out_dir / f"{rid}.train.csv", sub.train)
        write_clip_list(out_dir / f"{rid}.val.csv", sub.val)
        index[rid] = {"strategy": sub.request.strategy, "k": sub.request.k, "hours": sub.request.hours,
                      "seed": sub.request.seed, "classes": list(sub.classes),
                      "train": f"{rid}.train.csv", "val": f"{rid}.val.csv",
                      "train_hours": round(sub.train_hours, 6), "train_clips": len(sub.train),
                      "val_clips": len(sub.val)}
        union.update({s.ytid: "unbalanced_train" for s in sub.train})
        union.update({s.ytid: "eval" for s in sub.val})
    (out_dir / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    with (out_dir / UNION).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["ytid", "split"])
        w.writerows(sorted(union.items()))
    scenes = scenes_dataset.scenes
    folds = {split: [[c.clip_id, c.scene] for c in scenes_dataset.split(split)] for split in ("train", "evaluate")}
    (out_dir / "asc_clips.json").write_text(json.dumps({"scenes": scenes, **folds}) + "\n")
    return {"subsets": len(built), "aet_clips": len(union),
            "aet_hours": round(sum(s.seconds for s in pool if s.ytid in union) / 3600
                               + sum(s.seconds for s in evaluation if s.ytid in union) / 3600, 3)}


def read_union(path: Path) -> list[tuple[int, str, str]]:
    """(line number, ytid, split) of every row of union.csv."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (the make_subsets stage writes it)")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != ["ytid", "split"]:
            raise ValueError(f"{path}: header must be ytid,split")
        return [(lineno, row["ytid"], row["split"]) for lineno, row in enumerate(reader, start=2)]
