"""DVC stage extract_features: log-mel features of one clip set into data/features/<set>.

    asc           every clip of the scene data set (both folds)
    ranking_pool  the AudioSet clips of balanced_train that are present
    aet_subsets   the AET clips that any experiment uses (data/subsets/union.csv): eval clips
                  from data/aet, unbalanced_train clips from data/aet or, fetched by
                  make_subsets, from data/subsets

Bad audio files are listed in <out>/rejected.csv and counted here; they never stop the stage.
A missing label row or an unknown clip in union.csv does: those are errors in the inputs.
"""
import argparse
import sys
from pathlib import Path

from aetasc.config import load_params
from aetasc.data.audioset import AUDIO_SUFFIXES, AVAILABILITY, read_audioset, read_availability
from aetasc.data.tut2018 import LayoutError, check_audio_labelled, read_tut2018
from aetasc.features.extraction import DiskFullError, extract_features
from aetasc.events.subsets import UNION, read_union
from aetasc.errors import run_stage

SETS = ("asc", "ranking_pool", "aet_subsets")


def asc_clips(root: Path) -> list[tuple[str, Path]]:
    """Both folds of the TUT layout; an audio file without a labelled row is an error."""
    dataset = read_tut2018(root)
    check_audio_labelled(dataset, AUDIO_SUFFIXES)
    return [(c.clip_id, root / c.filename) for c in dataset.clips]


def ranking_pool_clips(root: Path) -> list[tuple[str, Path]]:
    layout = read_audioset(root)
    return [(s.ytid, root / layout.paths[s.ytid]) for s in layout.segments["balanced_train"]]


def aet_subset_clips(root: Path, subsets: Path) -> list[tuple[str, Path]]:
    """The clips of union.csv (ytid,split); each must be present in the AudioSet layout or
    among the clips make_subsets fetched."""
    layout = read_audioset(root)
    paths = {split: {s.ytid: root / layout.paths[s.ytid] for s in segs} for split, segs in layout.segments.items()}
    if (subsets / AVAILABILITY).is_file():
        for a in read_availability(subsets):
            if a.status == "present":
                paths[a.split][a.ytid] = subsets / a.path
    union_csv = subsets / UNION
    try:
        rows = read_union(union_csv)
    except (FileNotFoundError, ValueError) as err:
        raise LayoutError(str(err)) from None
    clips = {}
    for lineno, ytid, split in rows:
        if ytid not in paths.get(split, {}):
            raise LayoutError(f"{union_csv}:{lineno}: clip {ytid} (split {split}) is not present in {root} "
                              f"nor fetched into {subsets}")
        clips.setdefault(ytid, paths[split][ytid])
    return list(clips.items())


def build_clips(args) -> list[tuple[str, Path]]:
    if args.set == "asc":
        return asc_clips(Path(args.asc))
    if args.set == "ranking_pool":
        return ranking_pool_clips(Path(args.aet))
    return aet_subset_clips(Path(args.aet), Path(args.subsets))


def report(summary: dict) -> None:
    rejected = summary["rejected"]
    print(f"{summary['out_dir']}: {summary['accepted']} of {summary['clips']} clips extracted, "
          f"{sum(rejected.values())} rejected"
          + "".join(f"\n  {reason}: {n}" for reason, n in rejected.items()))
    if rejected:
        print(f"  (each rejected file and why: {summary['out_dir']}/rejected.csv)")
    print(f"{summary['seconds']:.1f} s on {summary['device']}, decoding workers: {summary['workers']}; "
          f"{summary['clips_per_second']:.1f} clips/s, {summary['x_realtime']:.0f}x real time")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", required=True, choices=SETS)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--asc", default="data/asc")
    ap.add_argument("--aet", default="data/aet")
    ap.add_argument("--subsets", default="data/subsets")
    ap.add_argument("--out", help="default: data/features/<set>")
    ap.add_argument("--workers", type=int, help="decoding processes (default: from the cores)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    clips = build_clips(args)      # a LayoutError is printed by run_stage, with the command
    out = Path(args.out or f"data/features/{args.set}")
    try:
        summary = extract_features(clips, params.active.features, out, workers=args.workers,
                                   batch_size=args.batch_size)
    except DiskFullError as err:
        sys.exit(f"extract_features --set {args.set}: disk full: {err.strerror}")
    report(summary)


if __name__ == "__main__":
    run_stage(main)
