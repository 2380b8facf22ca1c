"""DVC stage extract_features: log-mel features of one clip set into data/features/<set>.

    asc           every clip of the scene data set (both folds)
    ranking_pool  the AudioSet clips of balanced_train that are present
    aet_subsets   the AET clips that any experiment uses (data/subsets/union.csv)

Bad audio files are listed in <out>/rejected.csv and counted here; they never stop the stage.
A missing label row or an unknown clip in union.csv does: those are errors in the inputs.
"""
import argparse
import csv
import sys
from pathlib import Path

from aetasc.config import load_params
from aetasc.data.audioset import AUDIO_SUFFIXES, read_audioset
from aetasc.data.tut2018 import LayoutError, read_tut2018
from aetasc.features import extract_features

SETS = ("asc", "ranking_pool", "aet_subsets")
UNION = "union.csv"


def asc_clips(root: Path) -> list[tuple[str, Path]]:
    """Both folds of the TUT layout; an audio file without a labelled row is an error."""
    ds = read_tut2018(root)
    labelled = {c.filename for c in ds.clips}
    for path in sorted((root / "audio").rglob("*")):
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES \
                and path.relative_to(root).as_posix() not in labelled:
            raise LayoutError(f"{path}: audio file with no label row in {root / 'meta.csv'} "
                              f"and the fold 1 lists (label it or remove it)")
    return [(c.clip_id, root / c.filename) for c in ds.clips]


def ranking_pool_clips(root: Path) -> list[tuple[str, Path]]:
    layout = read_audioset(root)
    return [(s.ytid, root / layout.paths[s.ytid]) for s in layout.segments["balanced_train"]]


def aet_subset_clips(root: Path, union_csv: Path) -> list[tuple[str, Path]]:
    """The clips of union.csv (ytid,split); each must be present in the AudioSet layout."""
    layout = read_audioset(root)
    present = {split: {s.ytid for s in segs} for split, segs in layout.segments.items()}
    if not union_csv.is_file():
        raise LayoutError(f"{union_csv}: missing (the make_subsets stage writes it)")
    clips = {}
    with union_csv.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != ["ytid", "split"]:
            raise LayoutError(f"{union_csv}: header must be ytid,split")
        for lineno, row in enumerate(reader, start=2):
            if row["ytid"] not in present.get(row["split"], ()):
                raise LayoutError(f"{union_csv}:{lineno}: clip {row['ytid']} (split {row['split']}) "
                                  f"is not present in {root}")
            clips.setdefault(row["ytid"], root / layout.paths[row["ytid"]])
    return list(clips.items())


def build_clips(args) -> list[tuple[str, Path]]:
    if args.set == "asc":
        return asc_clips(Path(args.asc))
    if args.set == "ranking_pool":
        return ranking_pool_clips(Path(args.aet))
    return aet_subset_clips(Path(args.aet), Path(args.subsets) / UNION)


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
    try:
        clips = build_clips(args)
    except LayoutError as err:
        sys.exit(f"extract_features --set {args.set}: {err}")
    out = Path(args.out or f"data/features/{args.set}")
    report(extract_features(clips, params.active.features, out, workers=args.workers,
                            batch_size=args.batch_size))


if __name__ == "__main__":
    main()
