"""The plan of a world's experiments, from metadata alone: the AET subsets of every figure,
how far their class choices depart from the paper's plain wording, the clips to fetch and
extract, their feature storage, the memory a figure's runs need and the GPU-hours.

The make_subsets stage writes it (metrics/plan.json) with the tagger's ranking. Before any
audio is downloaded, `python -m aetasc.plan --metadata DIR` computes the same from the
segment CSVs and class table alone (with a stand-in ranking, stated), optionally on a
prefix of unbalanced_train with `--scale`: each T is divided by the scale to build the
subsets, and the clips and hours drawn from unbalanced_train are multiplied back.
`python -m aetasc.plan --bench BENCH_JSON` alone prices the paper world's run grid at a
benchmark's timings (stages/bench.py measures, this module projects).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import Params, load_params
from .data.audioset import CLASS_TABLE, SPLITS, check_splits, read_class_labels, read_segments_csv
from .data.hf_mirror import MirrorError, MirrorIndex, index_path, load_index, open_mirror, plan_lines
from .experiments import (ALPHA_PARAM, FIGURES, Point, asked_by, budgets_of, figure_points, seeds_of,
                          subset_requests)
from .io import round_floats, write_json
from .model import MultiTaskNet
from .subsets import Pool, Subset, SubsetError, SubsetRequest, build_subsets, subset_records, union_of
from .train import COMPILE_MIN_STEPS, MONITOR_CLIPS

FEATURE_BYTES = 2                   # features are stored as float16
# Without a measured step time: model FLOPs at a quarter of the bf16 matrix-multiply rate
# measured on an H200 (755 TFLOP/s, BENCHMARKS.md), the step's target share of it.
FLOPS_RATE = 0.25 * 755e12
TUT_CLIPS = 8640                    # TUT Urban Acoustic Scenes 2018 development set (both folds)
ASC_TRAIN_CLIPS = 6122              # TUT Urban Acoustic Scenes 2018, fold 1 train
N_SCENES = 10
STEP_FRACTION_TARGET = 0.25         # the step's share of the device's measured bf16 matmul rate
RANKING_POOL_CLIPS = 20_550         # AudioSet balanced_train clips still available
AUDIOSET_EVAL_CLIPS = 20_383        # eval_segments.csv: bounds the AET validation clips
AUDIOSET_UNBALANCED_CLIPS = 2_041_789   # unbalanced_train_segments.csv: bounds the AET clips
AET_CLIP_SECONDS = 10.0
GPU_HOURS_TARGET = 8.0              # the whole paper world on one H100 (docs/speed.md)
# GPU memory of a joint training step at the paper's shapes beyond its data: the peak the GPU
# check measured for train_figure@fig3a (8.37 GiB on an H200 with 0.2 GB of data; BENCHMARKS.md).
STEP_GPU_GB = 8.8
STAND_IN = "stand-in: class table order (no tagger ranking yet)"
GB = 1e9


# ------------------------------------------------------------------- a step's FLOPs
# The FLOP model of a training step: stages/bench.py divides it by the measured step time,
# and the cost projection below scales step times by it where the paper's shapes were not timed.

@dataclass(frozen=True)
class Shapes:
    """What sets the cost of a training step: the network width and the input size."""
    world: str
    width: int
    n_mels: int
    frames: int
    events: int           # AET classes (the world's Fig. 2 k)


def world_shapes(params: Params, world: str) -> Shapes:
    w = getattr(params.worlds, world)
    return Shapes(world, w.model.width, w.features.n_mels, w.features.frames, w.figures.fig2.k)


def model_flops(shapes: Shapes, batch: int, n_asc: int, backward: bool) -> int:
    """Model FLOPs of one pass (convolutions and matrix products, the usual convention),
    counted on the meta device: shapes only, nothing is computed."""
    with torch.device("meta"):
        net = MultiTaskNet(N_SCENES, shapes.events, shapes.width)
        x = torch.empty(batch, 1, shapes.n_mels, shapes.frames)
    counter = FlopCounterMode(display=False)
    with counter:
        asc, aet = net(x, n_asc)
        if backward:
            (asc.sum() + aet.sum()).backward()
    return counter.get_total_flops()


def steps_per_epoch(params: Params, world: str) -> int:
    """Training steps of an epoch of a world: ASC training clips // ASC batch."""
    w = getattr(params.worlds, world)
    if world == "paper":
        clips = ASC_TRAIN_CLIPS
    else:
        g = w.source
        clips = g.scenes * (g.cities - g.evaluate_cities) * g.locations_per_city * g.segments_per_location
    return clips // params.batch.asc


def steps_per_run(params: Params, world: str) -> int:
    """Training steps of one run of a world's budget: epochs x steps per epoch."""
    return getattr(params.worlds, world).epochs * steps_per_epoch(params, world)


def clip_bytes(params: Params) -> int:
    f = params.active.features
    return f.n_mels * f.frames * FEATURE_BYTES


def _set(clips: int, seconds: float, per_clip: int) -> dict:
    return {"clips": clips, "hours": seconds / 3600, "features_gb": clips * per_clip / GB}


def scaled_requests(params: Params, scale: float = 1.0) -> dict[SubsetRequest, tuple[SubsetRequest, str]]:
    """Each AET data set the active world's figures ask for, with its T divided by `scale`
    -> (the request as params state it, the params key asking for it)."""
    return {replace(r, hours=r.hours / scale): (r, key) for r, key in asked_by(params).items()}


def make_plan(params: Params, built: list[Subset], choices: dict, pool: Pool, evaluation: list,
              ranking_pool: list, asc_clips: int, ranking_source: str,
              requests: dict[SubsetRequest, tuple[SubsetRequest, str]], bench: dict | None = None,
              scale: float = 1.0) -> dict:
    """The plan of the active world's figures from their built subsets (`requests`: from
    scaled_requests). With scale != 1 the clips and hours taken from unbalanced_train are
    multiplied by `scale` (evaluation clips are not scaled)."""
    scaled = {s: r for s, (r, _) in requests.items()}
    records = subset_records(built, choices, pool)
    per_clip = clip_bytes(params)
    subsets = {}
    for sub in built:
        rec = records[sub.request.id]
        original = scaled[sub.request]
        subsets[original.id] = {**rec, "hours": original.hours, "train": f"{original.id}.train.csv",
                                "val": f"{original.id}.val.csv", "train_clips": round(rec["train_clips"] * scale),
                                "train_hours": rec["train_hours"] * scale}
    union = union_of(built)
    unbalanced = [s for s in pool.segments if union.get(s.ytid) == "unbalanced_train"]
    val = [s for s in evaluation if union.get(s.ytid) == "eval"]
    asc_seconds = asc_clips * params.active.features.clip_seconds
    fetch = {"asc": _set(asc_clips, asc_seconds, per_clip),
             "ranking_pool": _set(len(ranking_pool), sum(s.seconds for s in ranking_pool), per_clip),
             "aet_eval": _set(len(val), sum(s.seconds for s in val), per_clip),
             "aet_unbalanced": _set(round(len(unbalanced) * scale), scale * sum(s.seconds for s in unbalanced),
                                    per_clip)}
    fetch["total"] = {k: sum(v[k] for v in fetch.values()) for k in ("clips", "hours", "features_gb")}
    runs = _run_counts(params)
    figures = {}
    for fig in FIGURES:
        ids = sorted({p.events.request(params.active.data_seed).id for p in figure_points(fig, params) if p.events})
        largest = max((subsets[i]["train_clips"] + subsets[i]["val_clips"] for i in ids), default=0)
        # one AET subset in memory at a time (DataCache), plus both ASC folds; on a GPU the
        # training data stays resident when it fits in half the free memory (else streamed)
        data_gb = (largest + asc_clips) * per_clip / GB
        figures[fig] = {**runs[fig], "subsets": ids, "host_gb": data_gb}
        if params.world == "paper":
            figures[fig]["gpu_gb"] = data_gb + STEP_GPU_GB
    plan = {"world": params.world, "data_seed": params.active.data_seed, "seeds": len(params.active.seeds),
            "scale": scale, "ranking": ranking_source, "classes_in_pool": len(pool.rows_of),
            "choices": [c.record() | {"k": k} for (_, k), c in sorted(choices.items())],
            "subsets": subsets, "figures": figures, "fetch": fetch,
            "gpu_hours": gpu_hours(params, fetch["total"]["clips"], bench)}
    return round_floats(plan)


# ------------------------------------------------------------------------------ the cost
# What the figures' run grid costs: runs de-duplicated as the run store does, priced at a
# benchmark's measured step time (stages/bench.py only measures).

def _alpha(point: Point, params: Params) -> float | str:
    if point.alpha == ALPHA_PARAM:
        # `auto` is Eq. 3's value, known only once the baselines ran: one more distinct alpha.
        return "eq3" if params.alpha == "auto" else float(params.alpha)
    # a number, or a point named by the alpha it trains at (Eq. 3's: "eq3")
    return point.alpha if isinstance(point.alpha, str) else float(point.alpha)


def _runs_of(point: Point, params: Params, seed: int, figure: str) -> list[tuple[tuple, str, int, int]]:
    """(identity, mini-batch kind, epochs, full evaluations on the way) of each run a grid
    point needs at a seed, as experiments.plan_runs makes them.

    The identity holds what a run's fingerprint depends on beyond the world's settings. A run
    of the largest budget is also evaluated in full at the smaller ones. A pre-trained point
    is a pair of runs per budget b: b // 2 epochs of AET-only pre-training, whose encoder the
    rest, ASC fine-tuning, starts from.
    """
    augment = tuple(sorted({**params.augment.model_dump(), **point.augment}.items()))
    common = (seed, point.events, augment)
    budgets = budgets_of(figure, params)
    if point.pretrain:
        epochs = params.active.epochs
        pairs = budgets if figure == "budget" else (epochs // 2, epochs)
        return [run for b in pairs for run in (((*common, 1.0, False, b // 2), "aet", b // 2, 0),
                                               ((*common, 0.0, b, b - b // 2), "asc", b - b // 2, 0))]
    alpha = _alpha(point, params)
    kind = {0.0: "asc", 1.0: "aet"}.get(alpha, "joint")
    return [((*common, alpha, False, budgets), kind, budgets[-1], len(budgets) - 1)]


def count_runs(params: Params) -> dict:
    """The training the active world's figures (and the learning-curve study) imply,
    de-duplicated as the run store does: runs of equal fingerprints, e.g. the correlated event
    set at alpha = 0.95 in Figs 2, 3a and 5, are trained once. Fig. 2 takes its alpha = 0 and 1
    points from the baselines."""
    world, batch = params.active, params.batch
    unique: dict[tuple, tuple[str, int, int]] = {}
    figures, schedule = {}, {}
    per_epoch = steps_per_epoch(params, "paper")
    for figure in FIGURES:
        planned = new = 0
        entries = schedule[figure] = []   # per planned point and seed: (kind, steps) of the runs it trains
        for point in figure_points(figure, params):
            if point.baseline and figure not in ("baselines", "budget"):
                continue
            for seed in seeds_of(figure, params):
                planned += 1
                runs = _runs_of(point, params, seed, figure)
                entries.append([(kind, epochs * per_epoch) for key, kind, epochs, _ in runs if key not in unique])
                for key, kind, epochs, evaluations in runs:
                    new += key not in unique
                    unique.setdefault(key, (kind, epochs, evaluations))
        figures[figure] = {"planned": planned, "new": new}
    kinds = Counter(kind for kind, _, _ in unique.values())
    clips = {"asc": batch.asc, "aet": batch.aet, "joint": batch.asc + batch.aet}
    clip_steps = Counter()
    for kind, epochs, _ in unique.values():
        clip_steps[kind] += epochs * per_epoch * clips[kind]
    tagger_steps, tagger_val = _tagger(params)
    aet_hours = _aet_train_hours(params)
    # a run with an event set also scores AET validation clips (ASC-only fine-tuning included);
    # a full evaluation on the way scores the ASC evaluation fold again
    asc_eval = TUT_CLIPS - ASC_TRAIN_CLIPS
    eval_clips = sum(run_eval_clips(epochs, key[1] is not None) + evaluations * asc_eval
                     for key, (_, epochs, evaluations) in unique.items())
    return {
        "world": params.world, "seeds": len(world.seeds), "epochs": world.epochs,
        "steps_per_run": steps_per_run(params, "paper"), "figures": figures, "schedule": schedule,
        "runs": len(unique), "kinds": {kind: kinds[kind] for kind in clips},
        "fine_tuned_runs": sum(key[-2] is not False for key in unique),
        "clip_steps": {kind: clip_steps[kind] for kind in clips},
        "run_clip_steps": sum(clip_steps.values()),
        "tagger_steps": tagger_steps, "tagger_clip_steps": tagger_steps * batch.aet,
        # one process per figure with new runs (train_figure), and the tagger's (rank_events)
        "processes": sum(f["new"] > 0 for f in figures.values()) + (tagger_steps > 0),
        "eval_clips": eval_clips + (world.ranking.tagger_epochs * _monitored(tagger_val) + tagger_val
                                    if tagger_steps else 0),
        "aet_hours_requested": aet_hours,
        "extraction_clips": TUT_CLIPS + RANKING_POOL_CLIPS + AUDIOSET_EVAL_CLIPS
                            + min(round(aet_hours * 3600 / AET_CLIP_SECONDS), AUDIOSET_UNBALANCED_CLIPS),
    }


def _monitored(n: int) -> int:
    """Clips of n that a per-epoch evaluation scores: an even stride, at most MONITOR_CLIPS
    (Trainer.evaluate(monitor=True))."""
    return len(range(0, n, -(-n // MONITOR_CLIPS))) if n else 0


def run_eval_clips(epochs: int, with_events: bool, aet_val_clips: int | None = None) -> int:
    """Clips one run's evaluation scores: every epoch a strided sample of the ASC evaluation
    fold (and of the AET validation clips, for a run with an event set), at the end all of
    them. `aet_val_clips` None: the run's AET validation set is not known here, so its
    monitor counts MONITOR_CLIPS and its final pass is not counted."""
    asc = TUT_CLIPS - ASC_TRAIN_CLIPS
    aet_monitor = MONITOR_CLIPS if aet_val_clips is None else _monitored(aet_val_clips)
    return epochs * (_monitored(asc) + with_events * aet_monitor) + asc + with_events * (aet_val_clips or 0)


def _tagger(params: Params) -> tuple[int, int]:
    """(training steps, validation clips) of the ranking's tagger; none with a given checkpoint."""
    ranking = params.active.ranking
    if ranking.tagger_checkpoint is not None:
        return 0, 0
    val = max(1, round(ranking.validation_fraction * RANKING_POOL_CLIPS))   # as ranking.split_pool
    return ranking.tagger_epochs * ((RANKING_POOL_CLIPS - val) // params.batch.aet), val


def _aet_train_hours(params: Params) -> float:
    """Hours of AET training clips to extract: an upper bound, since the subsets of one class
    set and seed are nested (the longest counts) but different ones are taken as disjoint.
    The clip count is further capped by the unbalanced_train pool."""
    longest: dict[tuple, float] = {}
    for r in subset_requests(params):
        key = (r.strategy, r.k, r.data_seed)
        longest[key] = max(longest.get(key, 0.0), r.hours)
    return sum(longest.values())


def project(counts: dict, train_s_per_clip: float, eval_s_per_clip: float,
            extract_s_per_clip: float, shared: dict | None = None) -> dict:
    """Hours of the counted work at the given per-clip costs (a step's time scales with its
    clips). `shared`: per mini-batch kind, the aggregate speed-up of that kind's runs sharing
    one GPU as measured (several ranks per GPU under torchrun)."""
    shared = shared or {}
    seconds = {"figure_runs": sum(n * train_s_per_clip / shared.get(kind, {}).get("vs_one", 1.0)
                                  for kind, n in counts["clip_steps"].items()),
               "tagger": counts["tagger_clip_steps"] * train_s_per_clip,
               "evaluation": counts["eval_clips"] * eval_s_per_clip,
               "feature_front_end": counts["extraction_clips"] * extract_s_per_clip}
    hours = {k: v / 3600 for k, v in seconds.items()}
    return {"hours": hours, "total_hours": sum(hours.values())}


def projection(counts: dict, training: dict, features: dict, peak: float, paper: Shapes) -> dict:
    """The paper world's cost on this device: measured at the paper's shapes when they were
    timed, else the synthetic shapes' timings scaled by the ratio of model FLOPs."""
    if "paper" in training:
        timed, scale, basis = training["paper"], 1.0, "measured at the paper's shapes"
    else:
        timed = training["synthetic"]
        batch = timed["batch"]
        scale = model_flops(paper, batch["asc"] + batch["aet"], batch["asc"], backward=True) \
            / timed["flops_per_step"]
        basis = f"synthetic shapes' timings x {scale:.0f} (ratio of model FLOPs per clip)"
    clips = sum(timed["batch"].values())
    shared = sharing_measured(timed) if scale == 1.0 else {}    # measured at the paper's shapes only
    out = project(counts, scale * timed["ms_per_step"] / 1e3 / clips,
                  scale / timed["eval_clips_per_second"], 1 / features["clips_per_second"], shared)
    for kind, s in shared.items():
        basis += f", {kind} runs {s['processes']} to a GPU ({s['vs_one']:.2f}x aggregate, measured)"
    if timed.get("compiled"):
        first, later, how = compile_seconds(timed)
        out["hours"]["compilation"] = (counts["processes"] * first
                                       + (counts["runs"] + 1 - counts["processes"]) * later) / 3600
        out["total_hours"] = sum(out["hours"].values())
        basis += f", compiled (torch.compile): one compile per process, {how}"
    flops = (counts["run_clip_steps"] + counts["tagger_clip_steps"]) * scale * timed["flops_per_step"] / clips \
        + counts["eval_clips"] * scale * timed["forward_flops_per_clip"]
    compiles = compile_seconds(timed)[:2] if timed.get("compiled") else (0.0, 0.0)
    out["wall_hours"] = {n: wall_hours(counts, out, scale * timed["ms_per_step"] / 1e3 / clips,
                                       timed["batch"], n, compiles) for n in GPUS}
    out.update(basis=basis, model_flops=flops,
               hours_at_target_fraction=flops / (STEP_FRACTION_TARGET * peak) / 3600,
               not_counted="audio decoding and resampling, the final AET validation pass of each run, "
                           "checkpoint writes")
    return out


GPUS = (1, 8)


def compile_seconds(timed: dict) -> tuple[float, float, str]:
    """(first compile of a process, each later run's, how the later ones are priced). A figure
    process compiles every run's model, but after the first the compiled graph is found in
    torch's caches; the benchmark measures that as `recompile_seconds` (a second model
    compiled in the same process). Without that measurement the later ones are priced as the first."""
    first = timed["compile_seconds"]
    if timed.get("recompile_seconds") is not None:
        later = timed["recompile_seconds"]
        return first, later, f"later runs {later:.1f} s each (measured)"
    return first, first, "later runs priced as the first (not measured by this benchmark)"


def sharing_measured(timed: dict) -> dict:
    """Per mini-batch kind, the best measured aggregate speed-up of several such runs sharing
    one GPU at these shapes (only a gain counts; kinds not measured share nothing)."""
    best = {}
    for s in timed.get("sharing", []):
        if s.get("processes", 1) > 1 and s.get("vs_one", 0) > best.get(s.get("kind", "joint"), {}).get("vs_one", 1.0):
            best[s.get("kind", "joint")] = {"processes": s["processes"], "vs_one": s["vs_one"]}
    return best


def run_projection(timed: dict, kind: str, steps: int, epochs: int, aet_val_clips: int,
                   first_in_process: bool = True) -> dict:
    """Seconds one run of `steps` steps takes at a benchmark's timings of its shapes
    (training/<world> of bench.json): training, per-epoch and final evaluation, compilation."""
    clips = {"asc": timed["batch"]["asc"], "aet": timed["batch"]["aet"]}
    per_clip = timed["ms_per_step"] / 1e3 / sum(clips.values())
    batch = sum(clips.values()) if kind == "joint" else clips[kind]
    out = {"training": steps * batch * per_clip,
           "evaluation": run_eval_clips(epochs, kind != "asc", aet_val_clips) / timed["eval_clips_per_second"],
           "compilation": 0.0}
    if timed.get("compiled") and steps >= COMPILE_MIN_STEPS:
        first, later, _ = compile_seconds(timed)
        out["compilation"] = first if first_in_process else later
    return {"seconds": out, "total_seconds": sum(out.values())}


def wall_hours(counts: dict, hours: dict, train_s_per_clip: float, batch: dict, gpus: int,
               compile_s: tuple[float, float] = (0.0, 0.0)) -> float:
    """Hours until every figure is done on `gpus` GPUs under torchrun, one figure at a time:
    each rank takes the next run of the figure that no rank has claimed (stored runs cost
    nothing), and the figure ends with its last rank. The ranking's tagger and the front end
    run on one GPU; each run's evaluation goes with the run, and each rank compiles once per
    figure (compile_s: the first compile of a process, each later run's)."""
    h = hours["hours"]
    eval_per_run = 3600 * h["evaluation"] / (counts["runs"] + 1)
    first, later = compile_s
    clips = {"asc": batch["asc"], "aet": batch["aet"], "joint": batch["asc"] + batch["aet"]}
    seconds = 3600 * (h["tagger"] + h["feature_front_end"]) + first
    for entries in counts["schedule"].values():
        free = [0.0] * gpus                  # when each rank is free again
        for runs in entries:
            cost = sum(steps * clips[k] * train_s_per_clip + eval_per_run + later for k, steps in runs)
            if cost:
                rank = free.index(min(free))
                free[rank] += cost + (first - later if free[rank] == 0 else 0.0)
        seconds += max(free)
    return seconds / 3600


def projection_lines(c: dict, p: dict) -> list[str]:
    lines = [f"projection: the paper world ({c['seeds']} seeds, {c['epochs']} epochs, "
             f"{c['steps_per_run']} steps per run)",
             f"{'figure':<14} {'runs planned':>12} {'new runs':>9}"]
    lines += [f"{fig:<14} {n['planned']:>12} {n['new']:>9}" for fig, n in c["figures"].items()]
    lines += [f"{'total':<14} {sum(n['planned'] for n in c['figures'].values()):>12} {c['runs']:>9}",
              f"runs by mini-batch: {c['kinds']['asc']} ASC-only (64 clips/step), {c['kinds']['aet']} "
              f"AET-only (128), {c['kinds']['joint']} joint (192); {c['fine_tuned_runs']} of the ASC-only "
              f"runs fine-tune an AET-only run's encoder",
              f"clip-steps: {c['run_clip_steps']:,} (figure runs) + {c['tagger_clip_steps']:,} "
              f"(tagger, {c['tagger_steps']:,} steps); evaluation clips {c['eval_clips']:,}; "
              f"clips to extract <= {c['extraction_clips']:,} (AET subsets: {c['aet_hours_requested']:,.0f} h "
              f"requested, capped by the {AUDIOSET_UNBALANCED_CLIPS:,} clips of unbalanced_train)",
              f"basis: {p['basis']}"]
    lines += [f"  {k:<18} {v:>10.2f} h" for k, v in p["hours"].items()]
    lines += [f"  {'total':<18} {p['total_hours']:>10.2f} h on this device",
              "  wall-clock under torchrun, one figure at a time: "
              + ", ".join(f"{p['wall_hours'][n]:.2f} h on {n} device{'s' if int(n) > 1 else ''}"
                          for n in sorted(p.get("wall_hours", {}), key=int)),
              f"model FLOPs {p['model_flops']:.3g}: {p['hours_at_target_fraction']:.2f} h at "
              f"{100 * STEP_FRACTION_TARGET:.0f}% of this device's measured matmul rate",
              f"not counted: {p['not_counted']}"]
    return lines


def _run_counts(params: Params) -> dict[str, dict]:
    """Per figure: runs planned and runs new to the store (a run two figures share counts once)."""
    return {fig: {"runs_planned": n["planned"], "runs_new": n["new"]} for fig, n in count_runs(params)["figures"].items()}


def paper_world_cost(params: Params, bench: dict, extraction_clips: int | None = None) -> dict:
    """The paper world's runs (params read with world: paper) and their cost at a benchmark's
    timings, with the GPU-hours target where the benchmark can verify it. Without the plan's
    union of clips, extraction is bounded by the requested hours (count_runs)."""
    params = params.model_copy(update={"world": "paper"})
    counts = count_runs(params)
    if extraction_clips is not None:
        counts["extraction_clips"] = extraction_clips
    out = projection(counts, bench["training"], bench["features"], bench["matmul"]["flops_per_second"],
                     world_shapes(params, "paper"))
    verified = bench["device"]["type"] == "cuda" and "paper" in bench["training"]
    target = {"met": out["total_hours"] <= GPU_HOURS_TARGET if verified else None, "value": out["total_hours"],
              "required": GPU_HOURS_TARGET,
              "why": None if verified else "not verified: the paper's shapes were not timed on a CUDA device"}
    return {"runs": counts, "projection": out, "target": target}


def gpu_hours(params: Params, extraction_clips: int, bench: dict | None) -> dict:
    """The paper world's GPU-hours: from a benchmark's measured step time when one is given,
    else from model FLOPs at FLOPS_RATE. Only the paper world runs on GPUs."""
    if params.world != "paper":
        return {"basis": "not projected: the synthetic world runs on a CPU (docs/pipeline.md gives its time)"}
    if bench is not None:
        out = paper_world_cost(params, bench, extraction_clips)
        basis = f"{out['projection']['basis']}, benchmark of {bench['date']} on {bench['device']['name']}"
        return {"basis": basis, "hours": out["projection"]["hours"], "total": out["projection"]["total_hours"],
                "target": out["target"]}
    counts = {**count_runs(params), "extraction_clips": extraction_clips}
    shapes = world_shapes(params, "paper")
    clips = params.batch.asc + params.batch.aet
    per_clip = model_flops(shapes, clips, params.batch.asc, backward=True) / clips
    forward = model_flops(shapes, clips, clips, backward=False) / clips     # batch norm needs > 1 clip
    out = project(counts, per_clip / FLOPS_RATE, forward / FLOPS_RATE, 0.0)
    del out["hours"]["feature_front_end"]
    return {"basis": f"model FLOPs at {FLOPS_RATE / 1e12:.0f} TFLOP/s (no benchmark given); "
                     "feature extraction not counted", "hours": out["hours"], "total": sum(out["hours"].values())}


# ------------------------------------------------------------------------------ table

def target_line(t: dict) -> str:
    head = f"paper world <= {t['required']:g} GPU-hours on one GPU: "
    if t["met"] is None:
        return head + t["why"]
    return head + f"{'met' if t['met'] else 'NOT met'} ({t['value']:.3g})"


def format_plan(plan: dict) -> str:
    scale = plan["scale"]
    lines = [f"plan: the {plan['world']} world, data seed {plan['data_seed']}, {plan['seeds']} training seeds; "
             f"ranking: {plan['ranking']}"]
    if scale != 1:
        lines.append(f"  built on a prefix of unbalanced_train with T / {scale:g}; its clips and hours "
                     f"are scaled back x {scale:g} (an estimate)")
    lines += ["", "class sets (the plain rule: draws = 1, nothing passed over)",
              f"{'strategy':<13} {'k':>4} {'T needed h':>10} {'pool h':>9} {'draws':>6} {'passed over':>11} "
              f"{'deepest rank':>12}"]
    for c in plan["choices"]:
        lines.append(f"{c['strategy']:<13} {c['k']:>4} {c['hours_needed'] * scale:>10g} {c['pool_hours'] * scale:>9.1f} "
                     f"{c['draws']:>6} {len(c['passed_over']):>11} {c['deepest_rank'] or '-':>12}")
    lines += ["", "subsets (top-2: share of training clips carrying the pool's two most abundant classes, "
                  "Speech and Music on AudioSet; replaced: clips that could not be fetched)",
              f"{'subset':<34} {'train clips':>11} {'train h':>8} {'val clips':>9} {'top-2':>6} {'replaced':>8}"]
    for sid, s in plan["subsets"].items():
        lines.append(f"{sid:<34} {s['train_clips']:>11,} {s['train_hours']:>8.4g} {s['val_clips']:>9,} "
                     f"{100 * s['dominant_share']:>5.0f}% {s['replaced']:>8,}")
    lines += ["", "figures (host GB: the data of a run in memory; GPU GB: that data resident plus a joint "
                  "step's measured working set)",
              f"{'figure':<14} {'runs':>6} {'new':>6} {'subsets':>8} {'host GB':>8} {'GPU GB':>7}"]
    for fig, f in plan["figures"].items():
        gpu = f"{f['gpu_gb']:>7.4g}" if "gpu_gb" in f else f"{'-':>7}"
        lines.append(f"{fig:<14} {f['runs_planned']:>6} {f['runs_new']:>6} {len(f['subsets']):>8} "
                     f"{f['host_gb']:>8.4g} {gpu}")
    lines += ["", f"{'to fetch and extract':<22} {'clips':>11} {'hours':>9} {'features GB':>12}"]
    for name, s in plan["fetch"].items():
        lines.append(f"{name:<22} {s['clips']:>11,} {s['hours']:>9,.1f} {s['features_gb']:>12.4g}")
    g = plan["gpu_hours"]
    lines.append("")
    if "total" in g:
        lines.append(f"GPU-hours: {g['total']:.1f} (" + ", ".join(f"{k} {v:.2f}" for k, v in g["hours"].items())
                     + f"); basis: {g['basis']}")
        if "target" in g:
            lines.append(target_line(g["target"]))
    else:
        lines.append(f"GPU-hours: {g['basis']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- from metadata

def read_metadata(folder: Path) -> tuple[list[str], dict[str, list]]:
    """(class mids in table order, segments per split) of an AudioSet metadata folder."""
    classes = read_class_labels(folder / CLASS_TABLE)
    segments = {split: read_segments_csv(folder / name) for split, name in SPLITS.items()}
    check_splits(segments, classes, folder)
    return [c.mid for c in classes], segments


def plan_from_metadata(params: Params, folder: Path, ranking_csv: Path | None = None,
                       bench: dict | None = None, scale: float = 1.0, mirror: MirrorIndex | None = None) -> dict:
    """The plan; with a mirror's index also what fetching from it reads (plan["mirror"]):
    every balanced_train and eval clip (acquire_aet gathers them all) and the unbalanced_train
    clips the subsets take (of the prefix read, with --scale). The ranking (a rank_events
    ranking.csv, else the stand-in) must rank exactly the metadata's classes, as in make_subsets."""
    from .ranking import read_ranking
    mids, segments = read_metadata(Path(folder))
    ranking = [r.mid for r in read_ranking(ranking_csv, mids)] if ranking_csv is not None else None
    source = "the given ranking" if ranking is not None else STAND_IN
    requests = scaled_requests(params, scale)
    pool = Pool(segments["unbalanced_train"])
    built, choices = build_subsets(list(requests), ranking or mids, pool, segments["eval"],
                                   {s: key for s, (_, key) in requests.items()})
    plan = make_plan(params, built, choices, pool, segments["eval"], segments["balanced_train"], TUT_CLIPS,
                     source, requests, bench, scale)
    if mirror is not None:
        union = union_of(built)
        plan["mirror"] = mirror.plan({
            "balanced_train": {s.ytid for s in segments["balanced_train"]},
            "eval": {s.ytid for s in segments["eval"]},
            "unbalanced_train": {y for y, split in union.items() if split == "unbalanced_train"}})
    return plan


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m aetasc.plan", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metadata", type=Path, help="folder of class_labels_indices.csv and the three segment "
                                                  "CSVs (without it: the run grid's cost at --bench only)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--world", choices=("synthetic", "paper"), default="paper")
    ap.add_argument("--ranking", type=Path, help="ranking.csv of the rank_events stage (default: stand-in)")
    ap.add_argument("--bench", type=Path, help="a benchmark's bench.json (default: metrics/bench.json if present)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="unbalanced_train rows of the full list / rows given (a prefix: 31.2)")
    ap.add_argument("--out", type=Path, help="write the plan here as JSON")
    ap.add_argument("--hf", metavar="REPO_OR_FOLDER", help="a Hugging Face mirror (agkphysics/AudioSet, with "
                    "--hf-revision) or a folder of its parquet shards: also print the row groups and bytes "
                    "fetching reads from it (its index is built once, from the id column, and kept in the "
                    "params' download_dir)")
    ap.add_argument("--hf-revision", help="the mirror repo's commit (40 hex digits)")
    args = ap.parse_args(argv)
    from .ranking import RankingError
    params = load_params(args.params)
    params = params.model_copy(update={"world": args.world})
    bench_path = args.bench or (Path("metrics/bench.json") if Path("metrics/bench.json").is_file() else None)
    bench = json.loads(bench_path.read_text()) if bench_path else None
    if args.metadata is None:
        if bench is None:
            ap.error("give --metadata to plan the subsets, or --bench to price the run grid alone")
        cost = paper_world_cost(params, bench)
        print("\n".join(projection_lines(cost["runs"], cost["projection"]) + [target_line(cost["target"])]))
        return cost
    start = time.perf_counter()
    try:
        mirror = _mirror_index(params, args.hf, args.hf_revision) if args.hf else None
        plan = plan_from_metadata(params, args.metadata, args.ranking, bench, args.scale, mirror)
    except (SubsetError, RankingError, FileNotFoundError) as err:
        sys.exit(f"plan: {err}")
    print(format_plan(plan))
    if "mirror" in plan:
        print("\n" + "\n".join(plan_lines(args.hf, plan["mirror"])))
        if args.scale != 1:
            print(f"  (unbalanced_train: the clips of the prefix given; about x {args.scale:g} for the full list)")
    print(f"\n(planned in {time.perf_counter() - start:.1f} s)")
    if args.out:
        write_json(args.out, plan)
    return plan


def _mirror_index(params: Params, location: str, revision: str | None) -> MirrorIndex:
    try:
        mirror = open_mirror(location, revision, "--hf", "--hf-revision")
        return load_index(mirror, index_path(params.worlds.paper.source.download_dir, mirror))
    except MirrorError as err:
        sys.exit(f"plan: {err}")


if __name__ == "__main__":
    main()
