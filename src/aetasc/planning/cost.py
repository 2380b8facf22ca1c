"""The cost of a world's experiments: the training their run grid implies, counted as the
runner will train it (the runs of aetasc.experiments.grid.plan_runs, de-duplicated as the
run store does), and priced in GPU-hours at a benchmark's measured step time or, without
one, at model FLOPs (tools/bench.py measures, this module projects).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import groupby

import torch
from torch.utils.flop_counter import FlopCounterMode

from aetasc.config import Params
from aetasc.events.subsets import SubsetRequest
from aetasc.experiments.grid import FIGURES, Run, plan_runs, subset_requests
from aetasc.training.model import MultiTaskNet
from aetasc.training.trainer import COMPILE_MIN_STEPS, MONITOR_CLIPS

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
GB = 1e9


# ------------------------------------------------------------------- a step's FLOPs
# The FLOP model of a training step: tools/bench.py divides it by the measured step time,
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


# ------------------------------------------------------------------------------ the cost
# What the figures' run grid costs: runs de-duplicated as the run store does, priced at a
# benchmark's measured step time (tools/bench.py only measures).

# Before the baselines ran, Eq. 3's alpha is not known: NaN stands in for it, a number equal
# to no alpha of the grid, as Eq. 3's will be (one more distinct alpha).
EQ3_STAND_IN = {"eq3_alpha": float("nan")}


def _stand_in_data_id(events: SubsetRequest | None) -> str:
    """Before there are features, a run's data is named by its AET data set: the run store
    tells runs apart by the digest of that data, which differs where the data set does."""
    return events.id if events else ""


def planned_runs(params: Params) -> dict[str, list[Run]]:
    """Each figure's runs exactly as the runner plans them (experiments.grid.plan_runs), on
    stand-in data identities and Eq. 3's alpha."""
    return {figure: plan_runs(figure, params, _stand_in_data_id, EQ3_STAND_IN) for figure in FIGURES}


def _kind(alpha: float) -> str:
    """A run's mini-batch: ASC clips only, AET clips only, or both (joint)."""
    return {0.0: "asc", 1.0: "aet"}.get(alpha, "joint")


def count_runs(params: Params) -> dict:
    """The training the active world's figures (and the learning-curve study) imply,
    de-duplicated as the run store does: runs of equal fingerprints, e.g. the correlated event
    set at alpha = 0.95 in Figs 2, 3a and 5, are trained once. Fig. 2 takes its alpha = 0 and 1
    points from the baselines."""
    world, batch = params.active, params.batch
    # fingerprint -> (kind, epochs, full evaluations on the way, with an event set, fine-tuned)
    unique: dict[str, tuple[str, int, int, bool, bool]] = {}
    figures, schedule = {}, {}
    per_epoch = steps_per_epoch(params, "paper")
    for figure, runs in planned_runs(params).items():
        planned = new = 0
        entries = schedule[figure] = []   # per planned point and seed: (kind, steps) of the runs it trains
        for _, taken in groupby(runs, key=lambda r: (r.point.label, r.seed)):
            planned += 1
            # a pre-trained point: a pair of runs per budget, the AET-only pre-training first
            specs = [(s, run.events is not None) for run in taken
                     for s in (run.pretrain_spec, run.spec) if s is not None]
            fresh = [(s.fingerprint(), s, events) for s, events in specs if s.fingerprint() not in unique]
            entries.append([(_kind(s.alpha), s.epochs * per_epoch) for _, s, _ in fresh])
            new += len(fresh)
            for key, s, events in fresh:
                unique[key] = (_kind(s.alpha), s.epochs, len(s.evaluate_at), events, s.init_encoder is not None)
        figures[figure] = {"planned": planned, "new": new}
    kinds = Counter(kind for kind, *_ in unique.values())
    clips = {"asc": batch.asc, "aet": batch.aet, "joint": batch.asc + batch.aet}
    clip_steps = Counter()
    for kind, epochs, *_ in unique.values():
        clip_steps[kind] += epochs * per_epoch * clips[kind]
    tagger_steps, tagger_val = _tagger(params)
    aet_hours = _aet_train_hours(params)
    # a run with an event set also scores AET validation clips (ASC-only fine-tuning included);
    # a full evaluation on the way scores the ASC evaluation fold again
    asc_eval = TUT_CLIPS - ASC_TRAIN_CLIPS
    eval_clips = sum(run_eval_clips(epochs, events) + evaluations * asc_eval
                     for _, epochs, evaluations, events, _ in unique.values())
    return {
        "world": params.world, "seeds": len(world.seeds), "epochs": world.epochs,
        "steps_per_run": steps_per_run(params, "paper"), "figures": figures, "schedule": schedule,
        "runs": len(unique), "kinds": {kind: kinds[kind] for kind in clips},
        "fine_tuned_runs": sum(fine_tuned for *_, fine_tuned in unique.values()),
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


def target_line(t: dict) -> str:
    head = f"paper world <= {t['required']:g} GPU-hours on one GPU: "
    if t["met"] is None:
        return head + t["why"]
    return head + f"{'met' if t['met'] else 'NOT met'} ({t['value']:.3g})"
