"""The paper's figures as grids of training runs, and what each grid measured.

A figure is a list of grid points (an alpha, an AET event set, regularizer switches); each
point is trained once per seed. Runs are memoized by fingerprint (settings + data + code)
in one run store, so a run two figures share (e.g. correlated events at alpha = 0.95 in
Figs 2, 3a and 5) is trained once, and an interrupted figure resumes where it stopped.

Baselines (ASC-only, alpha = 0, and AET-only, alpha = 1, on Fig. 2's event set) form their
own figure; the others compare against it and take Eq. 3's alpha from it.
"""
from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .config import AugmentParams, Params
from .features import FeatureTable, open_features
from .identity import digest
from .io import percent, read_json
from .progress import bar as progress_bar
from .ranking import multi_hot
from .stats import paired_gain, summarize
from .subsets import SubsetRequest, read_clip_list
from .store import PROCESS, Busy
from .train import CHECKPOINT, CURVES, RESULT, RunData, RunSpec, Task, read_result, train_run

FIGURES = ("baselines", "fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41", "budget")
ALPHA_PARAM = "alpha"   # a point trained at the world's alpha (a number, or Eq. 3 when "auto")
EQ3 = "eq3"             # a point trained at Eq. 3's alpha, whatever the world's alpha says


@dataclass(frozen=True)
class EventSet:
    strategy: str
    k: int
    hours: float

    def request(self, data_seed: int) -> SubsetRequest:
        return SubsetRequest(self.strategy, self.k, float(self.hours), data_seed)


@dataclass(frozen=True)
class Point:
    label: str
    x: float | str                      # position on the figure's x axis
    alpha: float | str                  # a number, or ALPHA_PARAM
    events: EventSet | None             # AET data (None: ASC only, no lwlrap)
    augment: dict = field(default_factory=dict)   # overrides of params.augment
    pretrain: bool = False              # AET pre-training, then ASC fine-tuning (Fig. 5)
    baseline: str | None = None         # "asc" / "aet": this point is a baseline run


def figure_points(figure: str, params: Params) -> list[Point]:
    f = params.active.figures
    fig2_set = EventSet(f.fig2.strategy, f.fig2.k, f.fig2.hours)
    if figure == "baselines":
        return [Point("asc", 0.0, 0.0, fig2_set, baseline="asc"),
                Point("aet", 1.0, 1.0, fig2_set, baseline="aet")]
    if figure == "fig2":
        return [Point(f"alpha={a:g}", a, a, fig2_set, baseline={0.0: "asc", 1.0: "aet"}.get(a))
                for a in f.fig2.alphas]
    if figure == "fig3a":
        return [Point(s, s, ALPHA_PARAM, EventSet(s, f.fig3a.k, f.fig3a.hours)) for s in f.fig3a.strategies]
    if figure == "fig3b":
        return [Point(f"T={h:g}h", h, ALPHA_PARAM, EventSet(f.fig3b.strategy, f.fig3b.k, h))
                for h in f.fig3b.hours]
    if figure == "fig4":
        # k = 2 is speech + music in the paper: the two most abundant classes
        return [Point(f"k={k}", k, ALPHA_PARAM,
                      EventSet("abundant" if k == 2 else f.fig4.strategy, k, f.fig4.hours)) for k in f.fig4.ks]
    if figure == "fig5":
        s = EventSet(f.fig5.strategy, f.fig5.k, f.fig5.hours)
        return [Point("pretrain+finetune", "pretrain+finetune", 0.0, s, pretrain=True),
                Point("joint", "joint", ALPHA_PARAM, s)]
    if figure == "regularizers":
        r = f.regularizers
        s = EventSet(r.strategy, r.k, r.hours)
        off = {"specaugment": False, "mixup": False, "dropout": 0.0}
        # each regularizer alone (ASC only) against AET alone; the baseline has SpecAugment + MixUp
        return [Point("dropout", "dropout", 0.0, None, {**off, "dropout": r.dropout}),
                Point("mixup", "mixup", 0.0, None, {**off, "mixup": True}),
                Point("specaugment", "specaugment", 0.0, None, {**off, "specaugment": True}),
                Point("aet", "aet", ALPHA_PARAM, s, off),
                Point("aet+specaugment+mixup", "aet+specaugment+mixup", ALPHA_PARAM, s)]
    if figure == "sec41":
        r = f.sec41
        return [Point(f"T={h:g}h alpha={a:g}", h, a, EventSet(r.strategy, r.k, h)) for h in r.hours for a in r.alphas]
    if figure == "budget":
        # the learning-curve study: every kind of run the figures train, on Fig. 2's event set
        return [Point("asc", "asc", 0.0, fig2_set, baseline="asc"),
                Point("aet", "aet", 1.0, fig2_set, baseline="aet"),
                Point("joint eq3", "joint eq3", EQ3, fig2_set),
                Point("joint alpha=0.9", "joint alpha=0.9", 0.9, fig2_set),
                Point("pretrain+finetune", "pretrain+finetune", 0.0, fig2_set, pretrain=True)]
    raise KeyError(f"unknown figure {figure!r}; known: {', '.join(FIGURES)}")


def subset_requests(params: Params) -> list[SubsetRequest]:
    """Every AET data set that some figure trains or validates on, once."""
    return sorted(asked_by(params))


def asked_by(params: Params) -> dict[SubsetRequest, str]:
    """Each AET data set some figure needs -> the params key of the first figure asking for it."""
    out = {}
    base = f"worlds.{params.world}.figures"
    for fig in FIGURES:
        for i, p in enumerate(figure_points(fig, params)):
            if p.events is None:
                continue
            key = {"fig3b": f"fig3b.hours.{i}", "fig4": f"fig4.ks.{i}",
                   "sec41": f"sec41.hours.{i // len(params.active.figures.sec41.alphas)}"}.get(fig, f"{fig}.k / {fig}.hours")
            if fig == "baselines":
                key = "fig2.k / fig2.hours"
            out.setdefault(p.events.request(params.active.data_seed), f"{base}.{key}")
    return out


# ------------------------------------------------------------------------ the run store

@dataclass(frozen=True)
class Paths:
    asc_features: Path
    aet_features: Path
    subsets: Path
    runs: Path            # the run store, shared by all figures
    baselines: Path       # metrics/baselines.json


@dataclass(frozen=True)
class Run:
    point: Point
    seed: int
    spec: RunSpec
    events: SubsetRequest | None         # the run's AET data set
    pretrain_spec: RunSpec | None = None
    budgets: tuple[int, ...] = ()        # the budgets (epochs) whose results this run gives

    def values_at(self, result: dict, budget: int) -> dict:
        """The run's result as a run of `budget` epochs ends: the final one, or one of the full
        evaluations it made on the way (RunSpec.evaluate_at)."""
        if budget == max(self.budgets):
            return result
        return result["at_epochs"][str(budget)]

    @property
    def dir_name(self) -> str:
        return self.spec.fingerprint()


class DataError(ValueError):
    """A run's data lost more clips at extraction than params allow (max_rejected_share)."""


def _kept(listed: int, kept: int, what: str, share: float) -> dict:
    """Counts of a clip set after rejection; an error when it lost more than `share` of it."""
    lost = listed - kept
    if listed and lost / listed > share:
        raise DataError(f"{what}: {lost} of {listed} clips were rejected at extraction "
                        f"({100 * lost / listed:.1f} % > max_rejected_share = {100 * share:g} %); see "
                        f"rejected.csv of the features, and fix or replace those files")
    return {"clips": kept, "rejected": lost}


class DataCache:
    """Features and clip lists, loaded once per figure stage and shared by its runs.

    A data set's identity (part of every run's fingerprint) is the digest of what the run
    trains and evaluates on: the digests of its feature rows (written at extraction) in the
    order it reads them, its targets and its classes. It is computed from the clip lists and
    the features' index alone, without reading the features.
    """

    def __init__(self, params: Params, paths: Paths):
        self.params, self.paths = params, paths
        self._asc = None
        self._aet_table = None
        self._subsets = {}
        self._aet_ids: dict[str, str] = {}
        self._index = None
        self.asc_record: dict = {}
        self.aet_records: dict[str, dict] = {}

    @property
    def subsets_index(self) -> dict:
        if self._index is None:
            self._index = read_json(self.paths.subsets / "index.json")
        return self._index

    def aet_table(self) -> FeatureTable:
        if self._aet_table is None:
            self._aet_table = open_features(self.paths.aet_features, self.params.active.features)
        return self._aet_table

    def asc(self) -> tuple[tuple[str, ...], Task, Task, str]:
        """(scenes, train, evaluate, identity) of the scene data; rejected clips left out."""
        if self._asc is None:
            table = open_features(self.paths.asc_features, self.params.active.features)
            clips = read_json(self.paths.subsets / "asc_clips.json")
            scenes = tuple(clips["scenes"])
            tasks, parts, self.asc_record = [], [list(scenes)], {}
            for split in ("train", "evaluate"):
                kept = [(c, s) for c, s in clips[split] if c not in table.rejected]
                self.asc_record[f"asc_{split}"] = _kept(
                    len(clips[split]), len(kept), f"the ASC {split} fold ({self.paths.subsets / 'asc_clips.json'})",
                    self.params.max_rejected_share)
                rows = table.rows(c for c, _ in kept)
                order = np.argsort(rows)
                x = torch.from_numpy(np.ascontiguousarray(table.array[rows[order]]))
                y = torch.tensor([scenes.index(kept[i][1]) for i in order])
                tasks.append(Task(x, y))
                parts += [[table.digests[r] for r in rows[order]], y.numpy()]
            self._asc = (scenes, tasks[0], tasks[1], digest(*parts))
        return self._asc

    def _entry(self, request: SubsetRequest) -> dict:
        entry = self.subsets_index.get(request.id)
        if entry is None:
            raise KeyError(f"{self.paths.subsets}: no subset {request.id} (rerun make_subsets)")
        return entry

    def _aet_rows(self, request: SubsetRequest):
        """(classes, [(feature rows, targets) of train, of val]), rows in reading order."""
        entry = self._entry(request)
        classes = tuple(entry["classes"])
        table = self.aet_table()
        parts = []
        record = {}
        for part in ("train", "val"):
            listed = read_clip_list(self.paths.subsets / entry[part])
            segs = [s for s in listed if s.ytid not in table.rejected]
            record[f"aet_{part}"] = {**_kept(len(listed), len(segs), f"AET subset {request.id} ({part}: "
                                                                     f"{self.paths.subsets / entry[part]})",
                                             self.params.max_rejected_share),
                                     "hours": round(sum(s.seconds for s in segs) / 3600, 6)}
            rows = table.rows(s.ytid for s in segs)
            order = np.argsort(rows)
            parts.append((rows[order], multi_hot([segs[i] for i in order], list(classes))))
        self.aet_records[request.id] = record
        return classes, parts

    def aet_identity(self, request: SubsetRequest) -> str:
        """Identifies a subset's data without loading its features (a run's fingerprint needs it)."""
        if request.id not in self._aet_ids:
            classes, parts = self._aet_rows(request)
            digests = self.aet_table().digests
            self._aet_ids[request.id] = digest(list(classes), *[v for rows, y in parts
                                                                for v in ([digests[r] for r in rows], y.numpy())])
        return self._aet_ids[request.id]

    def aet(self, request: SubsetRequest) -> tuple[tuple[str, ...], Task, Task]:
        """(classes, train, validation) of an AET subset; rejected clips left out.

        Only the last subset stays in memory: in the paper's world one can take tens of GB.
        """
        if request.id not in self._subsets:
            classes, parts = self._aet_rows(request)
            array = self.aet_table().array
            tasks = [Task(torch.from_numpy(np.ascontiguousarray(array[rows])), y) for rows, y in parts]
            self._subsets = {request.id: (classes, tasks[0], tasks[1])}
        return self._subsets[request.id]


def trains_at_eq3(point: Point, params: Params) -> bool:
    """Whether a point's alpha is Eq. 3's, from the baselines' converged losses, rather than a
    number of the grid or of params.yaml (which may equal it without depending on it)."""
    return point.alpha == EQ3 or (point.alpha == ALPHA_PARAM and params.alpha == "auto")


def resolve_alpha(point: Point, params: Params, baselines: dict | None) -> float:
    if not trains_at_eq3(point, params):
        return float(params.alpha if point.alpha == ALPHA_PARAM else point.alpha)
    if baselines is None:
        raise ValueError("Eq. 3's alpha needs the baselines' converged losses (metrics/baselines.json)")
    return float(baselines["eq3_alpha"])


def budgets_of(figure: str, params: Params) -> tuple[int, ...]:
    """The budgets a figure's runs are evaluated at, the largest last: the learning-curve
    study's; or the world's epochs and half of it (the convergence check, the report's budget
    robustness). When the study reaches the world's budget, the figures' runs are also
    evaluated at the study's budgets up to it: where the study ends at the world's budget it
    shares its runs with the figures (equal settings, equal fingerprints), and where it goes
    beyond (twice the world's budget: did the world's budget plateau?), the figures' runs stay
    what they are. A study that stops short of the world's budget shares nothing, and a full
    evaluation no figure reads is not made."""
    world = params.active
    study = tuple(world.convergence.study_epochs)
    if figure == "budget":
        return study
    budgets = {world.epochs // 2, world.epochs}
    if max(study) >= world.epochs:
        budgets |= {b for b in study if b <= world.epochs}
    return tuple(sorted(budgets))


def seeds_of(figure: str, params: Params) -> list[int]:
    world = params.active
    return world.seeds[:world.convergence.study_seeds] if figure == "budget" else list(world.seeds)


def plan_runs(figure: str, params: Params, cache: DataCache, baselines: dict | None) -> list[Run]:
    """The runs of a figure, each with its fingerprinted spec, in a fixed order.

    A run of the largest budget gives every smaller one on the way. Pre-training + fine-tuning
    is step-matched to the other runs: a budget of b epochs is b // 2 epochs of AET
    pre-training (an epoch: as many steps as an ASC epoch) and the rest of ASC fine-tuning,
    one pair of runs per budget.
    """
    world = params.active
    budgets = budgets_of(figure, params)
    runs = []
    for point in figure_points(figure, params):
        if point.baseline and figure not in ("baselines", "budget"):
            continue                                  # taken from metrics/baselines.json
        for seed in seeds_of(figure, params):
            augment = AugmentParams(**{**params.augment.model_dump(), **point.augment})
            _, _, _, asc_id = cache.asc()
            events = point.events.request(world.data_seed) if point.events else None
            aet_id = cache.aet_identity(events) if events else ""
            spec = RunSpec(alpha=resolve_alpha(point, params, baselines), seed=seed, epochs=max(budgets),
                           width=world.model.width, batch=params.batch, optimizer=params.optimizer,
                           augment=augment, data_id=f"{asc_id}:{aet_id}", evaluate_at=budgets[:-1])
            if not point.pretrain:
                runs.append(Run(point, seed, spec, events, budgets=budgets))
                continue
            # pre-training + fine-tuning takes a pair of runs per budget: the study's, or the
            # world's budget and half of it
            for b in budgets if figure == "budget" else (world.epochs // 2, world.epochs):
                pre = replace(spec, alpha=1.0, epochs=b // 2, evaluate_at=())
                fine = replace(spec, alpha=0.0, epochs=b - b // 2, evaluate_at=(), init_encoder=pre.fingerprint())
                runs.append(Run(point, seed, fine, events, pre, budgets=(b,)))
    return runs


def needed_runs(params: Params, paths: Paths) -> dict[str, str]:
    """Fingerprint -> the first run of the current figures that needs it (pre-training runs
    included): what the store must keep for these params and data."""
    cache = DataCache(params, paths)
    baselines = read_json(paths.baselines) if paths.baselines.is_file() else None
    out = {}
    for figure in FIGURES:
        for run in plan_runs(figure, params, cache, baselines):
            what = f"{figure} {run.point.label} seed {run.seed}"
            out.setdefault(run.dir_name, what)
            if run.pretrain_spec is not None:
                out.setdefault(run.pretrain_spec.fingerprint(), what + " (pre-training)")
    return out


def run_data(run: Run, cache: DataCache) -> RunData:
    """A run's data, with the record of what it holds (clips, hours, rejections) that its
    result.json keeps."""
    scenes, asc_train, asc_eval, _ = cache.asc()
    if run.events is None:
        return RunData(scenes, (), asc_train, asc_eval, record=dict(cache.asc_record))
    classes, aet_train, aet_val = cache.aet(run.events)
    return RunData(scenes, classes, asc_train, asc_eval, aet_train, aet_val,
                   record={**cache.asc_record, **cache.aet_records[run.events.id]})


def _how(result: dict) -> str:
    """How a run that was not in the store got its result: trained by this process, or by
    another one this process waited for."""
    return "trained" if result.get("trained_by") == PROCESS else "waited for"


def execute(run: Run, cache: DataCache, store: Path, device=None, progress=True,
            wait: bool = True, label: str | None = None) -> tuple[dict, Counter]:
    """Train one run (or fetch it from the store); a pre-training run goes first. Returns its
    result and what happened to the runs it took: a Counter of "trained" (here), "waited for"
    (trained by another process meanwhile) and "reused" (in the store already). Its data is
    loaded only when something must be trained. wait=False raises store.Busy when another
    process is training it."""
    done = read_result(store / run.dir_name, run.spec)
    if done is not None:
        return done, Counter(reused=1)
    data = run_data(run, cache)
    counts, encoder = Counter(), None
    if run.pretrain_spec is not None:
        pre_dir = store / run.pretrain_spec.fingerprint()
        if (pre_dir / RESULT).is_file() and not (pre_dir / CHECKPOINT).is_file():
            (pre_dir / RESULT).unlink()               # its encoder is needed again: retrain
        if read_result(pre_dir, run.pretrain_spec) is not None:
            counts["reused"] += 1
        else:
            counts[_how(train_run(run.pretrain_spec, data, pre_dir, device, progress, keep_checkpoint=True,
                                  wait=wait, label=label and f"{label} (pre-training)"))] += 1
        encoder = pre_dir / CHECKPOINT
    result = train_run(run.spec, data, store / run.dir_name, device, progress,
                       init_encoder_path=encoder, wait=wait, label=label)
    counts[_how(result)] += 1
    return result, counts


# ------------------------------------------------------------------------ aggregation

METRICS = ("asc_accuracy", "lwlrap", "loss_asc", "loss_aet")


def _collect(results: list[tuple[Run, dict]]) -> dict[str, dict]:
    points = {}
    for run, result in results:
        p = points.setdefault(run.point.label, {"x": run.point.x, "alpha": run.spec.alpha,
                                                 "seeds": [], **{m: [] for m in METRICS}})
        p["seeds"].append(run.seed)
        for m in METRICS:
            p[m].append(result.get(m))
    return points


def aggregate(figure: str, params: Params, results: list[tuple[Run, dict]],
              baselines: dict | None) -> dict:
    """Per point: per-seed values, mean and std of each metric; gains over the baseline."""
    raw = _collect(results)
    if figure == "fig2" and baselines is not None:
        for point in figure_points("fig2", params):
            if point.baseline:
                raw[point.label] = {"x": point.x, "alpha": point.alpha,
                                    **{k: v for k, v in baselines["raw"][point.baseline].items()
                                       if k != "x" and k != "alpha"}}
        raw = {p.label: raw[p.label] for p in figure_points("fig2", params)}
    out = {"figure": figure, "world": params.world, "seeds": list(params.active.seeds),
           "epochs": params.active.epochs, "points": {}, "raw": raw}
    base = baselines["raw"]["asc"] if baselines is not None else None
    at_eq3 = {run.point.label for run, _ in results if trains_at_eq3(run.point, params)}
    for label, p in raw.items():
        # at_eq3_alpha: a budget that moves Eq. 3's alpha moves this point (aetasc.report)
        entry = {"x": p["x"], "alpha": p["alpha"], "at_eq3_alpha": label in at_eq3}
        for m in METRICS:
            if all(v is not None for v in p[m]):
                entry[m] = summarize(p[m])
        if base is not None and figure != "baselines":
            entry["gain"] = paired_gain(p["seeds"], p["asc_accuracy"], base["seeds"], base["asc_accuracy"])
        out["points"][label] = entry
    if figure == "baselines":
        l_asc = float(np.mean(raw["asc"]["loss_asc"]))
        l_aet = float(np.mean(raw["aet"]["loss_aet"]))
        out["converged_loss_asc"], out["converged_loss_aet"] = l_asc, l_aet
        out["loss_ratio"] = l_asc / l_aet
        out["eq3_alpha"] = eq3_alpha(l_asc, l_aet)
    else:
        out["baseline"] = baselines["points"]["asc"] if baselines is not None else None
    return out


def eq3_alpha(l_asc: float, l_aet: float) -> float:
    """Eq. 3 of the paper: the AET weight from the converged losses of the two baselines."""
    return l_asc / (l_asc + l_aet)


def _rise(a: dict, b: dict, metric: str) -> dict:
    """What a doubled budget adds: `metric` at budget b minus at budget a, paired by seed."""
    return paired_gain(b["seeds"], b[metric], a["seeds"], a[metric])


def _scored(p: dict) -> list[str]:
    """The metrics a point has for every seed: ASC accuracy, and lwlrap where it tags events."""
    return [m for m in ("asc_accuracy", "lwlrap") if p[m] and all(v is not None for v in p[m])]


def convergence(half: dict, full: dict, tolerance: float) -> dict:
    """The convergence criterion on a figure's own runs: a point has converged when its mean
    (over seeds) ASC accuracy (an AET-only point: lwlrap) rose by less than `tolerance` over
    the second half of the budget, from epochs // 2 to epochs. Each point also records the
    rise of every metric it has (`rises`), and the baselines how far Eq. 3's alpha moved: a
    claim waits only for what it reads (aetasc.report)."""
    points = {}
    for label, p in full["raw"].items():
        metric = "asc_accuracy" if p["alpha"] < 1.0 else "lwlrap"
        rises = {m: _rise(half["raw"][label], p, m) for m in _scored(p)}
        points[label] = {"metric": metric, "converged": rises[metric]["mean"] < tolerance,
                         "rises": {m: r["mean"] for m, r in rises.items()}}
    out = {"tolerance": tolerance, "from_epochs": half["epochs"], "to_epochs": full["epochs"],
           "converged": all(p["converged"] for p in points.values()), "points": points}
    if "eq3_alpha" in full:
        change = full["eq3_alpha"] - half["eq3_alpha"]
        out["eq3_alpha"] = {"from": half["eq3_alpha"], "to": full["eq3_alpha"], "change": change,
                            "converged": abs(change) < tolerance}
    return out


def aggregate_study(params: Params, by_budget: dict[int, list[tuple[Run, dict]]]) -> dict:
    """The learning-curve study: each arm's metrics at every budget, what each doubling of the
    budget added, Eq. 3's alpha from the asc and aet arms' losses at each budget, and the
    plateau: the smallest budget at which doubling from its half added less than the tolerance
    to the ASC accuracy of every arm scored on scenes (mean over seeds) and moved Eq. 3's
    alpha by less than it. The AET-only arm enters through alpha, the only way the scene
    classification runs read it; its lwlrap is recorded, and a claim that reads lwlrap
    waits for its own points (aetasc.report)."""
    world = params.active
    tolerance = world.convergence.tolerance
    budgets = sorted(by_budget)
    raw = {b: _collect(by_budget[b]) for b in budgets}
    out = {"figure": "budget", "world": params.world, "seeds": seeds_of("budget", params),
           "epochs": world.epochs, "budgets": budgets, "tolerance": tolerance, "points": {}, "arms": {}}
    for b in budgets:
        for label, p in raw[b].items():
            entry = {"x": b, "alpha": p["alpha"], "arm": label}
            entry.update({m: summarize(p[m]) for m in METRICS if all(v is not None for v in p[m])})
            out["points"][f"{label} @{b}"] = entry
    for label, p in raw[budgets[-1]].items():
        metric = "asc_accuracy" if p["alpha"] < 1.0 else "lwlrap"
        out["arms"][label] = {"metric": metric, "alpha": p["alpha"],
                              "rise": {str(b): _rise(raw[a][label], raw[b][label], metric)
                                       for a, b in zip(budgets, budgets[1:])}}
    alpha = {b: eq3_alpha(float(np.mean(raw[b]["asc"]["loss_asc"])), float(np.mean(raw[b]["aet"]["loss_aet"])))
             for b in budgets}
    out["eq3_alpha"] = {str(b): alpha[b] for b in budgets}
    out["plateau_epochs"] = next((b for a, b in zip(budgets, budgets[1:])
                                  if abs(alpha[b] - alpha[a]) < tolerance
                                  and all(arm["rise"][str(b)]["mean"] < tolerance
                                          for arm in out["arms"].values() if arm["metric"] == "asc_accuracy")),
                                 None)
    return out


def write_points_csv(path: Path, summary: dict) -> None:
    """One row per grid point (mean and standard deviation over seeds, in % like the PNGs),
    for `dvc plots`; the templates in .dvc/plots find a column's spread in `<column>_sd`."""
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["label", "x", "alpha", "asc_accuracy_pct", "asc_accuracy_pct_sd", "lwlrap_pct", "lwlrap_pct_sd"])
        for label, p in summary["points"].items():
            acc, lw = p.get("asc_accuracy"), p.get("lwlrap")
            w.writerow([label, p["x"], p["alpha"], _r(acc, "mean"), _r(acc, "std"), _r(lw, "mean"), _r(lw, "std")])


def _r(summary: dict | None, key: str):
    return "" if summary is None else percent(summary[key])


def mean_curves(run_dirs: list[Path]) -> list[dict]:
    """Per-epoch mean over runs of their curves.csv columns. A curves.csv cut short (fewer
    epochs than the others, or a row with fields missing) is left out, with a warning: the
    curves are for monitoring, the results do not depend on them."""
    tables = {}
    for d in run_dirs:
        with (d / CURVES).open(newline="") as f:
            reader = csv.DictReader(f)
            tables[d / CURVES] = [r for r in reader if None not in r.values() and None not in r]
            if len(tables[d / CURVES]) != reader.line_num - 1:
                print(f"warning: {d / CURVES}: a row is cut short (fields missing)", file=sys.stderr)
    longest = max((len(t) for t in tables.values()), default=0)
    for path, rows in list(tables.items()):
        if len(rows) < longest:
            print(f"warning: {path}: {len(rows)} of {longest} epochs (cut short); left out of the "
                  f"mean curves", file=sys.stderr)
            del tables[path]
    tables = list(tables.values())
    out = []
    for rows in zip(*tables):
        entry = {"epoch": int(rows[0]["epoch"])}
        for key in rows[0]:
            vals = [float(r[key]) for r in rows if r[key] != ""]
            if key != "epoch" and vals:
                entry[key] = round(float(np.mean(vals)), 6)
        out.append(entry)
    return out


def run_figure(figure: str, params: Params, paths: Paths, rank: int = 0, world_size: int = 1,
               device=None, progress: bool = True, barrier=None) -> dict | None:
    """Train a figure's runs (this rank's share) and, on rank 0, aggregate all of them.

    With several ranks, each takes the next run that no other rank has claimed (aetasc.store);
    `barrier` waits for all ranks before rank 0 reads every run's result from the store.
    Returns the summary on rank 0, None elsewhere. (rank only picks who aggregates.)
    """
    baselines = None if figure == "baselines" else read_json(paths.baselines)
    cache = DataCache(params, paths)
    runs = plan_runs(figure, params, cache, baselines)
    # Several ranks take runs first come, first served: a run another rank is training is
    # skipped and waited for at the end (so a slow run does not hold up the rest).
    counts, deferred = Counter(), []
    for run in progress_bar(runs, desc=f"{figure} runs", unit="run", disable=not progress):
        try:
            counts += execute(run, cache, paths.runs, device, progress, wait=world_size == 1,
                              label=f"{figure} {run.point.label} seed {run.seed}")[1]
        except Busy:
            deferred.append(run)
    for run in deferred:            # trained by another rank: wait for its result
        counts += execute(run, cache, paths.runs, device, progress,
                          label=f"{figure} {run.point.label} seed {run.seed}")[1]
    print(f"{figure}: trained {counts['trained']} run(s) here, reused {counts['reused']} from the store, "
          f"waited for {counts['waited for']} trained by another process; {len(runs)} planned "
          f"(pre-training runs counted apart); store {paths.runs}")
    if barrier is not None:
        barrier()
    if rank != 0:
        return None
    budgets = budgets_of(figure, params)
    by_budget = {b: [] for b in budgets}
    for run in runs:
        result = read_result(paths.runs / run.dir_name, run.spec)
        if result is None:
            raise RuntimeError(f"{figure}: run {run.point.label} seed {run.seed} has no valid result at "
                               f"{paths.runs / run.dir_name / RESULT}")
        for b in run.budgets:
            by_budget[b].append((run, run.values_at(result, b)))
    # the curves of the runs of the largest budget (a pre-training point: its fine-tuning)
    longest = [r for r in runs if max(r.budgets) == budgets[-1]]
    curves = {label: mean_curves([paths.runs / r.dir_name for r in longest if r.point.label == label])
              for label in dict.fromkeys(r.point.label for r in longest)}
    if figure == "budget":
        return {**aggregate_study(params, by_budget), "curves": curves}
    budget, half_budget = budgets[-1], budgets[-1] // 2
    summary = aggregate(figure, params, by_budget[budget], baselines)
    half = aggregate(figure, params, by_budget[half_budget], baselines and baselines["half_budget"])
    half["epochs"] = half_budget
    summary["half_budget"] = half
    summary["convergence"] = convergence(half, summary, params.active.convergence.tolerance)
    summary["curves"] = curves
    return summary
