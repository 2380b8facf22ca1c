"""The run store's housekeeping (not a DVC stage): which entries the current figures need.

    python stages/run_store.py            # every entry: size, and the run that needs it
    python stages/run_store.py --remove   # delete the entries no current figure needs

"Current" means the figures and the ranking's tagger of params.yaml on the data in data/
(features and subsets as the pipeline last made them). Entries being trained by a live
process are never removed.
"""
import argparse
import sys
from pathlib import Path

from aetasc.config import load_params
from aetasc.data.audioset import read_audioset
from aetasc.experiments import Paths, needed_runs
from aetasc.ranking import tagger_plan
from aetasc.store import default_store, entries, folder_bytes, is_claimed, remove


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--features", default="data/features")
    ap.add_argument("--subsets", default="data/subsets")
    ap.add_argument("--aet", default="data/aet")
    ap.add_argument("--metrics", default="metrics")
    ap.add_argument("--runs", default=None, help="the run store (default: $AETASC_RUN_STORE, "
                                                 "else the workspace's data/runs)")
    ap.add_argument("--remove", action="store_true", help="delete the entries no current figure needs")
    args = ap.parse_args()
    params = load_params(args.params)
    store = Path(args.runs or default_store())
    features = Path(args.features)
    paths = Paths(asc_features=features / "asc", aet_features=features / "aet_subsets",
                  subsets=Path(args.subsets), runs=store, baselines=Path(args.metrics) / "baselines.json")
    try:
        needed = needed_runs(params, paths)
        if params.active.ranking.tagger_checkpoint is None:
            spec = tagger_plan(params, read_audioset(args.aet), features / "ranking_pool")[-1]
            needed.setdefault(spec.fingerprint(), "the ranking's tagger")
    except (FileNotFoundError, KeyError, ValueError) as err:
        sys.exit(f"run_store: cannot tell which runs the figures need ({err}); run `dvc repro` first")
    kept = stale = 0
    for entry in entries(store):
        size = folder_bytes(entry)
        what = needed.get(entry.name)
        if what is None and is_claimed(entry):
            what = "being trained by a live process"
        print(f"{entry.name}  {size / 2**20:9.1f} MiB  {what or 'not needed'}")
        if what is None:
            stale += size
            if args.remove:
                remove(entry)
        else:
            kept += size
    action = "removed" if args.remove else "not needed (--remove deletes them)"
    print(f"{store}: {kept / 2**20:.1f} MiB needed, {stale / 2**20:.1f} MiB {action}; "
          f"{sum(1 for e in entries(store) if e.name in needed)} of {len(needed)} needed runs present")


if __name__ == "__main__":
    main()
