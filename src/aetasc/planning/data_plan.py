"""The data plan of a world's experiments: the AET subsets of every figure, how far their
class choices depart from the paper's plain wording, the clips to fetch and extract, their
feature storage, the memory a figure's runs need, and the GPU-hours (aetasc.planning.cost).

The plan stage writes it (metrics/plan.json) from the subsets make_subsets built with the
tagger's ranking. Before any audio is downloaded, `python -m aetasc.planning --metadata DIR`
computes the same from the segment CSVs and class table alone (with a stand-in ranking,
stated), optionally on a prefix of unbalanced_train with `--scale`: each T is divided by the
scale to build the subsets, and the clips and hours drawn from unbalanced_train are
multiplied back.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from aetasc.config import Params
from aetasc.data.audioset import (CLASS_TABLE, SPLITS, Segment, check_splits, read_audioset, read_class_labels,
                                  read_segments_csv)
from aetasc.data.hf_mirror import MirrorIndex, estimate_plan
from aetasc.events.ranking import read_ranking
from aetasc.events.subsets import (UNION, Pool, Subset, SubsetError, SubsetRequest, build_subsets, read_union,
                                   subset_records, union_of)
from aetasc.experiments.grid import FIGURES, asked_by, figure_points
from aetasc.io import read_json, round_floats
from aetasc.planning.cost import GB, STEP_GPU_GB, TUT_CLIPS, count_runs, gpu_hours, target_line

FEATURE_BYTES = 2                   # features are stored as float16
STAND_IN = "stand-in: class table order (no tagger ranking yet)"


@dataclass(frozen=True)
class BuiltSubsets:
    """What the plan reads of the built subsets: as make_subsets writes them to data/subsets,
    or straight from build_subsets when planning from metadata alone."""
    records: dict[str, dict]        # index.json: subset id -> classes, files, sizes, departures
    choices: list[dict]             # choices.json: each strategy and k's class choice
    union: dict[str, str]           # union.csv: ytid -> split of every clip some subset takes

    @classmethod
    def of(cls, built: list[Subset], choices: dict, pool: Pool) -> BuiltSubsets:
        return cls(subset_records(built, choices, pool),
                   [c.record() | {"k": k} for (_, k), c in sorted(choices.items())], union_of(built))

    @classmethod
    def read(cls, folder: Path) -> BuiltSubsets:
        folder = Path(folder)
        return cls(read_json(folder / "index.json"), read_json(folder / "choices.json"),
                   {ytid: split for _, ytid, split in read_union(folder / UNION)})


def clip_bytes(params: Params) -> int:
    f = params.active.features
    return f.n_mels * f.frames * FEATURE_BYTES


def _set(clips: int, seconds: float, per_clip: int) -> dict:
    return {"clips": clips, "hours": seconds / 3600, "features_gb": clips * per_clip / GB}


def scaled_requests(params: Params, scale: float = 1.0) -> dict[SubsetRequest, tuple[SubsetRequest, str]]:
    """Each AET data set the active world's figures ask for, with its T divided by `scale`
    -> (the request as params state it, the params key asking for it)."""
    return {replace(r, hours=r.hours / scale): (r, key) for r, key in asked_by(params).items()}


def make_plan(params: Params, subsets: BuiltSubsets, segments: dict[str, list[Segment]], asc_clips: int,
              ranking_source: str, requests: dict[SubsetRequest, tuple[SubsetRequest, str]],
              bench: dict | None = None, scale: float = 1.0) -> dict:
    """The plan of the active world's figures from their built subsets (`requests`: from
    scaled_requests; `segments`: the listed unbalanced_train clips, and the eval and
    balanced_train clips at hand). With scale != 1 the clips and hours taken from
    unbalanced_train are multiplied by `scale` (evaluation clips are not scaled)."""
    per_clip = clip_bytes(params)
    plan_subsets = {}
    for built, (original, _) in sorted(requests.items()):
        rec = subsets.records[built.id]
        plan_subsets[original.id] = {**rec, "hours": original.hours, "train": f"{original.id}.train.csv",
                                     "val": f"{original.id}.val.csv",
                                     "train_clips": round(rec["train_clips"] * scale),
                                     "train_hours": rec["train_hours"] * scale}
    union = subsets.union
    unbalanced = [s for s in segments["unbalanced_train"] if union.get(s.ytid) == "unbalanced_train"]
    val = [s for s in segments["eval"] if union.get(s.ytid) == "eval"]
    ranking_pool = segments["balanced_train"]
    asc_seconds = asc_clips * params.active.features.clip_seconds
    fetch = {"asc": _set(asc_clips, asc_seconds, per_clip),
             "ranking_pool": _set(len(ranking_pool), sum(s.seconds for s in ranking_pool), per_clip),
             "aet_eval": _set(len(val), sum(s.seconds for s in val), per_clip),
             "aet_unbalanced": _set(round(len(unbalanced) * scale), scale * sum(s.seconds for s in unbalanced),
                                    per_clip)}
    fetch["total"] = {k: sum(v[k] for v in fetch.values()) for k in ("clips", "hours", "features_gb")}
    runs = count_runs(params)["figures"]
    figures = {}
    for fig in FIGURES:
        ids = sorted({p.events.request(params.active.data_seed).id for p in figure_points(fig, params) if p.events})
        largest = max((plan_subsets[i]["train_clips"] + plan_subsets[i]["val_clips"] for i in ids), default=0)
        # one AET subset in memory at a time (DataCache), plus both ASC folds; on a GPU the
        # training data stays resident when it fits in half the free memory (else streamed)
        data_gb = (largest + asc_clips) * per_clip / GB
        figures[fig] = {"runs_planned": runs[fig]["planned"], "runs_new": runs[fig]["new"], "subsets": ids,
                        "host_gb": data_gb}
        if params.world == "paper":
            figures[fig]["gpu_gb"] = data_gb + STEP_GPU_GB
    classes_in_pool = len({m for s in segments["unbalanced_train"] for m in s.labels})
    plan = {"world": params.world, "data_seed": params.active.data_seed, "seeds": len(params.active.seeds),
            "scale": scale, "ranking": ranking_source, "classes_in_pool": classes_in_pool,
            "choices": subsets.choices, "subsets": plan_subsets, "figures": figures, "fetch": fetch,
            "gpu_hours": gpu_hours(params, fetch["total"]["clips"], bench)}
    return round_floats(plan)


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


# ------------------------------------------------------------------- from the built subsets

def plan_from_subsets(params: Params, subsets: Path, aet: Path) -> dict:
    """The plan of the subsets make_subsets built (data/subsets) from the event pool (data/aet)."""
    subsets = Path(subsets)
    requests = scaled_requests(params)
    built = BuiltSubsets.read(subsets)
    if set(built.records) != {r.id for r in requests}:
        raise SubsetError(f"{subsets / 'index.json'}: its subsets are not the ones params.yaml asks for "
                          f"(run make_subsets again)")
    layout = read_audioset(aet)
    # the listed unbalanced_train clips, as make_subsets' pool; the eval and balanced_train clips at hand
    segments = {"unbalanced_train": list(layout.listed["unbalanced_train"]), "eval": list(layout.segments["eval"]),
                "balanced_train": list(layout.segments["balanced_train"])}
    folds = read_json(subsets / "asc_clips.json")
    return make_plan(params, built, segments, len(folds["train"]) + len(folds["evaluate"]),
                     "the tagger's (rank_events)", requests)


# ---------------------------------------------------------------------------- from metadata

def read_metadata(folder: Path) -> tuple[list[str], dict[str, list]]:
    """(class mids in table order, segments per split) of an AudioSet metadata folder."""
    classes = read_class_labels(folder / CLASS_TABLE)
    segments = {split: read_segments_csv(folder / name) for split, name in SPLITS.items()}
    check_splits(segments, classes, folder)
    return [c.mid for c in classes], segments


def plan_from_metadata(params: Params, folder: Path, ranking_csv: Path | None = None,
                       bench: dict | None = None, scale: float = 1.0, mirror: MirrorIndex | None = None) -> dict:
    """The plan; with a mirror's index also what fetching from it reads (plan["mirror"]), else
    that estimated for agkphysics/AudioSet from its published layout (plan["mirror_estimate"]):
    every balanced_train and eval clip (acquire_aet gathers them all) and the unbalanced_train
    clips the subsets take (of the prefix read, with --scale). The ranking (a rank_events
    ranking.csv, else the stand-in) must rank exactly the metadata's classes, as in make_subsets."""
    mids, segments = read_metadata(Path(folder))
    ranking = [r.mid for r in read_ranking(ranking_csv, mids)] if ranking_csv is not None else None
    source = "the given ranking" if ranking is not None else STAND_IN
    requests = scaled_requests(params, scale)
    pool = Pool(segments["unbalanced_train"])
    built, choices = build_subsets(list(requests), ranking or mids, pool, segments["eval"],
                                   {s: key for s, (_, key) in requests.items()})
    subsets = BuiltSubsets.of(built, choices, pool)
    plan = make_plan(params, subsets, segments, TUT_CLIPS, source, requests, bench, scale)
    if mirror is not None:
        plan["mirror"] = mirror.plan({
            "balanced_train": {s.ytid for s in segments["balanced_train"]},
            "eval": {s.ytid for s in segments["eval"]},
            "unbalanced_train": {y for y, split in subsets.union.items() if split == "unbalanced_train"}})
    else:
        plan["mirror_estimate"] = estimate_plan({"balanced_train": len(segments["balanced_train"]),
                                                 "eval": len(segments["eval"]),
                                                 "unbalanced_train": plan["fetch"]["aet_unbalanced"]["clips"]})
    return plan


