"""The run store's housekeeping (not a DVC stage): which entries the current figures need.

    python stages/run_store.py                  # every folder: size, and what it is kept for
    python stages/run_store.py --remove         # list what would go, with sizes, and ask
    python stages/run_store.py --remove --yes   # delete without asking

"Current" means the figures and the ranking's tagger of params.yaml on the data in data/
(features and subsets as the pipeline last made them). Only run entries (folders with the
store's marker) are ever removed, and never one claimed by a live process or used since the
oldest running stage began (docs/run_store.md).
"""
import argparse
import os
import sys
from pathlib import Path

from aetasc.config import load_params
from aetasc.data.audioset import read_audioset
from aetasc.experiments.data import Paths
from aetasc.experiments.runner import needed_runs
from aetasc.events.ranking import tagger_plan
from aetasc.training.store import (ENTRY, default_store, entries, folder_bytes, is_claimed, is_entry, last_used,
                          remove, running_stages)
from aetasc.errors import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--features", default="data/features")
    ap.add_argument("--subsets", default="data/subsets")
    ap.add_argument("--aet", default="data/aet")
    ap.add_argument("--metrics", default="metrics")
    ap.add_argument("--runs", default=None, help="the run store (default: $AETASC_RUN_STORE, "
                                                 "else the workspace's data/runs)")
    ap.add_argument("--remove", action="store_true", help="delete the entries no current figure needs "
                                                         "(asks first)")
    ap.add_argument("--yes", action="store_true", help="with --remove: do not ask")
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
    stages = running_stages(store)
    used_before = min((s["since"] for s in stages), default=float("inf"))
    for s in stages:
        print(f"running: {s['what']} (host {s['host']}, pid {s['pid']}): entries used since it began are kept")
    kept = 0
    removable = []
    for entry in entries(store):
        size = folder_bytes(entry)
        if entry.is_symlink():
            print(f"{entry.name}  {size / 2**20:9.1f} MiB  a symbolic link to {os.readlink(entry)}: left alone")
            continue
        if not is_entry(entry):
            print(f"{entry.name}  {size / 2**20:9.1f} MiB  not a run entry ({ENTRY} missing): left alone")
            continue
        what = needed.get(entry.name)
        if what is None and is_claimed(entry):
            what = "being trained by a live process"
        if what is None and last_used(entry) >= used_before:
            what = "used by a running stage"
        print(f"{entry.name}  {size / 2**20:9.1f} MiB  {what or 'not needed'}")
        if what is None:
            removable.append((entry, size))
        else:
            kept += size
    stale = sum(size for _, size in removable)
    present = sum(1 for e in entries(store) if e.name in needed and is_entry(e))
    print(f"{store}: {kept / 2**20:.1f} MiB kept, {stale / 2**20:.1f} MiB in {len(removable)} entries not needed"
          f"{'' if args.remove else ' (--remove deletes them)'}; {present} of {len(needed)} needed runs present")
    if not args.remove or not removable:
        return
    if not args.yes:
        if not sys.stdin.isatty():
            sys.exit("run_store: --remove asks before deleting; not run interactively, so nothing was "
                     "deleted (add --yes to delete the entries listed as not needed)")
        answer = input(f"delete these {len(removable)} entries ({stale / 2**20:.1f} MiB)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return
    removed = freed = 0
    for entry, size in removable:
        if remove(entry, used_before):
            removed, freed = removed + 1, freed + size
        else:
            print(f"{entry.name}: claimed or used meanwhile; kept")
    print(f"{store}: removed {removed} entries, {freed / 2**20:.1f} MiB")

if __name__ == "__main__":
    run_stage(main)
