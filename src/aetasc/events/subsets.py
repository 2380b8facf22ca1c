"""AET data sets of k event classes and T hours, as the paper builds them from AudioSet.

Class choice (the strategies of Sec. 4.2 and 4.4), made so that the pool always holds T:
- random: "k randomly selected classes": k-class sets are drawn at random (seeded by the
  data seed) until one whose clips hold T hours is drawn; the number of draws is recorded.
  On AudioSet most random 5- or 10-class sets hold a few hours only, and the paper's sets
  did hold their T: it can only have drawn among the sets that do;
- correlated: the k classes a tagger ranks most likely present in the scene clips, walking
  down the ranking while they hold less than T: the class of the set holding the fewest
  hours is passed over and the next ranked class taken (classes passed over are recorded);
- uncorrelated: the same walk up from the least likely class;
- abundant: the k classes with the most clips in the pool (k = 2: speech and music).
A strategy and k give one class set per data seed, chosen to hold the largest T that any
figure asks of that strategy and k, so the T sweep of Fig. 3b varies T on fixed classes.

Clips: every listed clip of the training pool carrying at least one of the k classes is a
candidate; the candidates are shuffled once per (class set, data seed) and the shortest
prefix of usable clips reaching T hours is taken, so a smaller T is a subset of a larger
one, and a clip that turns out missing or corrupt is replaced by the next candidate of the
same order (build_and_fetch fetches clips until every subset holds T). Labels are
restricted to the k classes. The validation set is every eval clip carrying one of the
classes: fixed for a class set, whatever T.

The data seed (`worlds.<world>.data_seed`) fixes the data of an experiment; the training
seeds vary only initialization, batch order and augmentation, as the paper's trials did.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aetasc.data.audioset import Segment
from aetasc.errors import AetascError


UNION = "union.csv"
MAX_DRAWS = 10_000        # random class sets tried before a request is called infeasible


class SubsetError(AetascError, ValueError):
    """The pool cannot supply what an experiment asks for."""


@dataclass(frozen=True, order=True)
class SubsetRequest:
    strategy: str
    k: int
    hours: float
    data_seed: int

    @property
    def id(self) -> str:
        return f"{self.strategy}-k{self.k}-T{self.hours:g}h-data{self.data_seed}"


@dataclass(frozen=True)
class ClassChoice:
    """A strategy's k classes and how far the choice departed from the plain rule."""
    strategy: str
    classes: tuple[str, ...]          # mids, in target-column order
    hours_needed: float               # the largest T asked of this strategy and k
    pool_hours: float                 # what clips carrying these classes hold
    draws: int = 1                    # random: sets drawn until one held hours_needed
    passed_over: tuple[str, ...] = () # ranked: classes walked past for holding too little
    deepest_rank: int = 0             # ranked: 1-based rank of the furthest class taken

    def record(self) -> dict:
        return {"strategy": self.strategy, "classes": list(self.classes),
                "hours_needed": self.hours_needed, "pool_hours": self.pool_hours,
                "draws": self.draws, "passed_over": list(self.passed_over),
                "deepest_rank": self.deepest_rank}


@dataclass(frozen=True)
class Subset:
    request: SubsetRequest
    classes: tuple[str, ...]          # mids, in target-column order
    train: tuple[Segment, ...]        # labels restricted to `classes`
    val: tuple[Segment, ...]
    replaced: int = 0                 # candidates skipped in its prefix as missing or corrupt

    @property
    def train_hours(self) -> float:
        return sum(s.seconds for s in self.train) / 3600


def _stable_seed(*keys) -> int:
    return int.from_bytes(hashlib.sha256(repr(keys).encode()).digest()[:8], "little")


class Pool:
    """A split's listed clips indexed by class: the hours a class set holds, fast on 2 M clips.

    Clips known to be missing or corrupt (`unusable`) keep their place in every candidate
    order, so that marking one unusable later replaces it by the next candidate and moves
    nothing else; they count for no hours.
    """

    def __init__(self, segments, unusable=()):
        self.segments = list(segments)
        self.row = {s.ytid: i for i, s in enumerate(self.segments)}
        self.usable = np.ones(len(self.segments), dtype=bool)
        self.seconds = np.fromiter((s.seconds for s in self.segments), float, len(self.segments))
        rows = defaultdict(list)
        for i, s in enumerate(self.segments):
            for m in s.labels:
                rows[m].append(i)
        self.rows_of = {m: np.asarray(r, dtype=np.int64) for m, r in rows.items()}
        self.mark_unusable(unusable)

    def mark_unusable(self, ytids) -> None:
        for y in ytids:
            self.usable[self.row[y]] = False
        held = np.where(self.usable, self.seconds, 0.0)
        self.class_hours = Counter({m: float(held[r].sum()) / 3600 for m, r in self.rows_of.items()})

    def candidates(self, classes) -> np.ndarray:
        """Rows (in pool order) of the listed clips carrying at least one of the classes."""
        parts = [self.rows_of[m] for m in classes if m in self.rows_of]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def hours(self, classes) -> float:
        rows = self.candidates(classes)
        return float(self.seconds[rows[self.usable[rows]]].sum()) / 3600

    def total_hours(self) -> float:
        return float(self.seconds[self.usable].sum()) / 3600


def choose_classes(strategy: str, k: int, data_seed: int, ranking: list[str], pool: Pool,
                   hours: float) -> ClassChoice:
    """The k classes a strategy picks whose clips hold at least `hours`.

    `ranking` lists every class, most likely present in the scenes first.
    """
    if k > len(ranking):
        raise SubsetError(f"k = {k} but the pool has only {len(ranking)} event classes")
    if hours > pool.total_hours():
        raise SubsetError(f"T = {hours:g} h exceeds the {pool.total_hours():.3f} h the whole "
                          f"pool holds: no choice of classes reaches it")
    if strategy in ("correlated", "uncorrelated"):
        return _walk(strategy, k, ranking if strategy == "correlated" else ranking[::-1], pool, hours)
    if strategy == "abundant":
        # ties broken by the ranking's class order, so the choice is deterministic
        position = {m: i for i, m in enumerate(ranking)}
        order = sorted(ranking, key=lambda m: (-pool.class_hours[m], position[m]))
        classes = tuple(order[:k])
        held = pool.hours(classes)
        if held < hours:
            raise SubsetError(f"the {k} most abundant classes hold {held:.3f} h < T = {hours:g} h")
        return ClassChoice(strategy, classes, hours, held)
    if strategy == "random":
        rng = np.random.default_rng(_stable_seed("classes", k, data_seed))
        for draw in range(1, MAX_DRAWS + 1):
            classes = tuple(ranking[i] for i in sorted(rng.choice(len(ranking), size=k, replace=False)))
            held = pool.hours(classes)
            if held >= hours:
                return ClassChoice(strategy, classes, hours, held, draws=draw)
        raise SubsetError(f"none of {MAX_DRAWS} random {k}-class sets holds T = {hours:g} h")
    raise SubsetError(f"unknown strategy {strategy!r}")


def _walk(strategy: str, k: int, order: list[str], pool: Pool, hours: float) -> ClassChoice:
    """The first k classes of `order`; while they hold less than `hours`, the one holding the
    fewest is passed over and the next class of `order` taken."""
    position = {m: i for i, m in enumerate(order)}
    chosen, passed, nxt = list(order[:k]), [], k
    held = pool.hours(chosen)
    while held < hours:
        if nxt == len(order):
            raise SubsetError(f"walking the whole ranking, no {k} {strategy} classes hold T = {hours:g} h")
        weakest = min(chosen, key=lambda m: (pool.class_hours[m], -position[m]))
        chosen.remove(weakest)
        passed.append(weakest)
        chosen.append(order[nxt])
        nxt += 1
        held = pool.hours(chosen)
    chosen.sort(key=position.get)
    return ClassChoice(strategy, tuple(chosen), hours, held, passed_over=tuple(passed), deepest_rank=nxt)


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
                              f"{len(pool)} clips present or to fetch): no choice of classes can reach it")


def build_subset(request: SubsetRequest, classes: tuple[str, ...], pool: Pool,
                 evaluation: list[Segment]) -> Subset:
    listed = pool.candidates(classes)
    rng = np.random.default_rng(_stable_seed("clips", classes, request.data_seed))
    listed = listed[rng.permutation(len(listed))]         # the order, whatever is usable
    rows = listed[pool.usable[listed]]
    available = float(pool.seconds[rows].sum()) / 3600
    if available < request.hours:
        raise SubsetError(f"{request.id}: asked for {request.hours:g} h but the pool holds only "
                          f"{available:.3f} h of clips carrying these {len(classes)} classes "
                          f"({len(rows)} usable clips)")
    seconds = np.cumsum(pool.seconds[rows])
    target = request.hours * 3600
    # first prefix reaching the target (all of them when rounding puts it past the last)
    n = min(int(np.searchsorted(seconds, target)), len(rows) - 1)
    if n > 0 and target - seconds[n - 1] < seconds[n] - target:
        n -= 1                                           # the shorter prefix is closer
    train = tuple(_restrict((pool.segments[i] for i in rows[:n + 1]), classes))
    val = tuple(_restrict(evaluation, classes))
    if not val:
        raise SubsetError(f"{request.id}: no eval clip carries any of the classes {classes}")
    last = int(np.flatnonzero(listed == rows[n])[0])
    return Subset(request, classes, train, val, replaced=int((~pool.usable[listed[:last]]).sum()))


def build_subsets(requests, ranking: list[str], pool: Pool, evaluation: list[Segment],
                  asked_by: dict | None = None) -> tuple[list[Subset], dict[tuple[str, int], ClassChoice]]:
    """Every requested subset, and the class choice of each (strategy, k). A request the pool
    cannot supply is an error naming the params key behind it (`asked_by`)."""
    seeds = {r.data_seed for r in requests}
    if len(seeds) > 1:
        raise SubsetError(f"requests of several data seeds {sorted(seeds)}: one world has one data seed")
    largest: dict[tuple[str, int], SubsetRequest] = {}      # the request a class set must hold
    for r in sorted(requests):
        key = (r.strategy, r.k)
        if key not in largest or r.hours > largest[key].hours:
            largest[key] = r
    choices, built = {}, []
    for r in sorted(requests):
        key = (r.strategy, r.k)
        try:
            if key not in choices:
                choices[key] = choose_classes(r.strategy, r.k, r.data_seed, ranking, pool, largest[key].hours)
        except SubsetError as err:
            culprit = largest[key]
            raise SubsetError(f"{err} (asked for by {(asked_by or {}).get(culprit, culprit.id)})") from None
        try:
            built.append(build_subset(r, choices[key].classes, pool, evaluation))
        except SubsetError as err:
            raise SubsetError(f"{err} (asked for by {(asked_by or {}).get(r, r.id)})") from None
    return built, choices


def build_and_fetch(requests, ranking: list[str], pool: Pool, evaluation: list[Segment], asked_by: dict,
                    pending: set[str], fetch) -> tuple[list[Subset], dict, dict[str, str]]:
    """build_subsets, then fetch the `pending` clips the subsets take: `fetch(segments)`
    returns (ytid -> path of each clip fetched, ytids missing or corrupt). A clip that fails
    is replaced by the next candidate of its subset's order, fetched in turn, until every
    subset holds its T; the class sets stay as chosen. Returns (subsets, class choices,
    ytid -> path of every clip fetched)."""
    built, choices = build_subsets(requests, ranking, pool, evaluation, asked_by)
    fetched, tried = {}, set()
    while True:
        need = sorted({s.ytid for b in built for s in b.train if s.ytid in pending} - tried)
        if not need:
            return built, choices, fetched
        got, failed = fetch([pool.segments[pool.row[y]] for y in need])
        fetched.update(got)
        tried.update(need)
        if not failed:
            return built, choices, fetched
        pool.mark_unusable(failed)
        try:
            built = [build_subset(b.request, b.classes, pool, evaluation) for b in built]
        except SubsetError as err:
            raise SubsetError(f"{err}, after {len(tried - set(fetched))} clips could not be "
                              f"fetched") from None


def dominant_share(subset: Subset, dominant: tuple[str, ...]) -> float:
    """Share of a subset's training clips carrying one of the `dominant` classes (on AudioSet
    the two most abundant: Speech and Music)."""
    wanted = set(dominant)
    return sum(bool(wanted.intersection(s.labels)) for s in subset.train) / max(1, len(subset.train))


# ---------------------------------------------------------------------- files on disk

def write_clip_list(path: Path, segments) -> None:
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["ytid", "start", "end", "labels"])
        for s in segments:
            w.writerow([s.ytid, f"{s.start:.3f}", f"{s.end:.3f}", ",".join(s.labels)])


CLIP_LIST_HEADER = ["ytid", "start", "end", "labels"]


def read_clip_list(path: Path) -> list[Segment]:
    """A subset's clip list: a BOM, CRLF line ends and blank lines are accepted; a wrong
    header or field count, bad seconds or a clip listed twice is an error naming the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (run the make_subsets stage)")
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != CLIP_LIST_HEADER:
        raise SubsetError(f"{path}:1: header must be {','.join(CLIP_LIST_HEADER)}, got "
                          f"{rows[0] if rows else []!r}")
    out, first = [], {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in row):
            continue
        try:
            if len(row) != 4:
                raise ValueError(f"expected 4 fields, got {len(row)}")
            segment = Segment(row[0], float(row[1]), float(row[2]), tuple(row[3].split(",")))
        except ValueError as err:
            raise SubsetError(f"{path}:{lineno}: {err}: {row!r}") from None
        if segment.ytid in first:
            raise SubsetError(f"{path}:{lineno}: {segment.ytid} is listed twice (first on line "
                              f"{first[segment.ytid]})")
        first[segment.ytid] = lineno
        out.append(segment)
    return out


def dominant_classes(pool: Pool, n: int = 2) -> tuple[str, ...]:
    return tuple(m for m, _ in pool.class_hours.most_common(n))


def subset_records(built: list[Subset], choices: dict, pool: Pool) -> dict[str, dict]:
    """Per subset: its classes, size, and how far its class choice departed from the plain rule."""
    dominant = dominant_classes(pool)
    out = {}
    for sub in built:
        r = sub.request
        choice = choices[(r.strategy, r.k)]
        out[r.id] = {"strategy": r.strategy, "k": r.k, "hours": r.hours, "data_seed": r.data_seed,
                     "classes": list(sub.classes), "train": f"{r.id}.train.csv", "val": f"{r.id}.val.csv",
                     "train_hours": round(sub.train_hours, 6), "train_clips": len(sub.train),
                     "val_clips": len(sub.val), "val_hours": round(sum(s.seconds for s in sub.val) / 3600, 6),
                     "replaced": sub.replaced,
                     "draws": choice.draws, "passed_over": len(choice.passed_over),
                     "deepest_rank": choice.deepest_rank,
                     "dominant_share": round(dominant_share(sub, dominant), 4)}
    return out


def union_of(built: list[Subset]) -> dict[str, str]:
    """ytid -> split of every AET clip some subset trains or validates on."""
    union = {}
    for sub in built:
        union.update({s.ytid: "unbalanced_train" for s in sub.train})
        union.update({s.ytid: "eval" for s in sub.val})
    return union


def write_subsets(built: list[Subset], choices: dict, pool: Pool, scenes_dataset, out_dir: Path) -> dict:
    """Write built subsets (see build_subsets) into out_dir; return the index.

    out_dir/index.json     subset id -> classes, files, hours, clip counts, departures
    out_dir/choices.json   per strategy and k: the class choice and how it was reached
    out_dir/<id>.train.csv, <id>.val.csv   ytid,start,end,labels (labels restricted to k)
    out_dir/union.csv      ytid,split of every AET clip some experiment needs
    out_dir/asc_clips.json the scene clips of each fold, with their scenes
    """
    out_dir = Path(out_dir)
    for sub in built:
        write_clip_list(out_dir / f"{sub.request.id}.train.csv", sub.train)
        write_clip_list(out_dir / f"{sub.request.id}.val.csv", sub.val)
    index = subset_records(built, choices, pool)
    (out_dir / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    (out_dir / "choices.json").write_text(json.dumps(
        [c.record() | {"k": k} for (_, k), c in sorted(choices.items())], indent=1) + "\n")
    with (out_dir / UNION).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["ytid", "split"])
        w.writerows(sorted(union_of(built).items()))
    scenes = scenes_dataset.scenes
    folds = {split: [[c.clip_id, c.scene] for c in scenes_dataset.split(split)] for split in ("train", "evaluate")}
    (out_dir / "asc_clips.json").write_text(json.dumps({"scenes": scenes, **folds}) + "\n")
    return index


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
