"""The plan of a world's experiments, from metadata alone: the AET subsets of every figure,
how far their class choices depart from the paper's plain wording, the clips to fetch and
extract, their feature storage, the memory a figure's runs need and the GPU-hours.

The make_subsets stage writes it (metrics/plan.json) with the tagger's ranking. Before any
audio is downloaded, `python -m aetasc.plan --metadata DIR` computes the same from the
segment CSVs and class table alone (with a stand-in ranking, stated), optionally on a
prefix of unbalanced_train with `--scale`: each T is divided by the scale to build the
subsets, and the clips and hours drawn from unbalanced_train are multiplied back.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from .config import Params, load_params
from .data.audioset import CLASS_TABLE, SPLITS, read_class_labels, read_segments_csv, check_splits
from .experiments import FIGURES, asked_by, figure_points
from .io import round_floats, write_json
from .subsets import Pool, Subset, SubsetError, SubsetRequest, build_subsets, subset_records, union_of

FEATURE_BYTES = 2                   # features are stored as float16
# Without a measured step time: model FLOPs at a quarter of the bf16 matrix-multiply rate
# measured on an H100 (755 TFLOP/s, BENCHMARKS.md), the step's target share of it.
FLOPS_RATE = 0.25 * 755e12
TUT_CLIPS = 8640                    # TUT Urban Acoustic Scenes 2018 development set
# GPU memory of a joint training step at the paper's shapes beyond its data: the peak the GPU
# check measured for train_figure@fig3a (8.37 GiB on an H200 with 0.2 GB of data; BENCHMARKS.md).
STEP_GPU_GB = 8.8
STAND_IN = "stand-in: class table order (no tagger ranking yet)"
GB = 1e9


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


def _run_counts(params: Params) -> dict[str, dict]:
    """Per figure: runs planned and runs new to the store (a run two figures share counts once)."""
    from .bench import count_runs
    figures = count_runs(params)["figures"]
    return {fig: {"runs_planned": n["planned"], "runs_new": n["new"]} for fig, n in figures.items()}


def gpu_hours(params: Params, extraction_clips: int, bench: dict | None) -> dict:
    """The paper world's GPU-hours: from a benchmark's measured step time when one is given,
    else from model FLOPs at FLOPS_RATE. Only the paper world runs on GPUs."""
    if params.world != "paper":
        return {"basis": "not projected: the synthetic world runs on a CPU (README gives its time)"}
    from .bench import count_runs, model_flops, project, projection, world_shapes
    counts = {**count_runs(params), "extraction_clips": extraction_clips}
    shapes = world_shapes(params, "paper")
    if bench is not None:
        out = projection(counts, bench["training"], bench["features"], bench["matmul"]["flops_per_second"], shapes)
        basis = f"{out['basis']}, benchmark of {bench['date']} on {bench['device']['name']}"
        return {"basis": basis, "hours": out["hours"], "total": out["total_hours"]}
    clips = params.batch.asc + params.batch.aet
    per_clip = model_flops(shapes, clips, params.batch.asc, backward=True) / clips
    forward = model_flops(shapes, clips, clips, backward=False) / clips     # batch norm needs > 1 clip
    seconds = per_clip / FLOPS_RATE
    out = project(counts, seconds, forward / FLOPS_RATE, 0.0)
    del out["hours"]["feature_front_end"]
    return {"basis": f"model FLOPs at {FLOPS_RATE / 1e12:.0f} TFLOP/s (no benchmark given); "
                     "feature extraction not counted", "hours": out["hours"], "total": sum(out["hours"].values())}


# ------------------------------------------------------------------------------ table

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


def plan_from_metadata(params: Params, folder: Path, ranking: list[str] | None = None,
                       bench: dict | None = None, scale: float = 1.0) -> dict:
    mids, segments = read_metadata(Path(folder))
    source = "the given ranking" if ranking is not None else STAND_IN
    requests = scaled_requests(params, scale)
    pool = Pool(segments["unbalanced_train"])
    built, choices = build_subsets(list(requests), ranking or mids, pool, segments["eval"],
                                   {s: key for s, (_, key) in requests.items()})
    return make_plan(params, built, choices, pool, segments["eval"], segments["balanced_train"], TUT_CLIPS,
                     source, requests, bench, scale)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m aetasc.plan", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metadata", required=True, type=Path,
                    help="folder of class_labels_indices.csv and the three segment CSVs")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--world", choices=("synthetic", "paper"), default="paper")
    ap.add_argument("--ranking", type=Path, help="ranking.csv of the rank_events stage (default: stand-in)")
    ap.add_argument("--bench", type=Path, help="a benchmark's bench.json (default: metrics/bench.json if present)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="unbalanced_train rows of the full list / rows given (a prefix: 31.2)")
    ap.add_argument("--out", type=Path, help="write the plan here as JSON")
    args = ap.parse_args(argv)
    from .ranking import read_ranking
    params = load_params(args.params)
    params = params.model_copy(update={"world": args.world})
    bench_path = args.bench or (Path("metrics/bench.json") if Path("metrics/bench.json").is_file() else None)
    bench = json.loads(bench_path.read_text()) if bench_path else None
    ranking = [r.mid for r in read_ranking(args.ranking)] if args.ranking else None
    start = time.perf_counter()
    try:
        plan = plan_from_metadata(params, args.metadata, ranking, bench, args.scale)
    except SubsetError as err:
        sys.exit(f"plan: {err}")
    print(format_plan(plan))
    print(f"\n(planned in {time.perf_counter() - start:.1f} s)")
    if args.out:
        write_json(args.out, plan)
    return plan


if __name__ == "__main__":
    main()
