"""What retraining the record costs on this machine: every run the figures and the study plan
(aetasc.planning.cost.planned_runs, de-duplicated by fingerprint as the run store does),
the epochs each trains (a wsd run's cooldown branches included), priced at the seconds per
epoch of each kind of run measured in a run store.

    python -m tools.record_cost --rates data/schedule_runs [--params params.yaml]

The rates are the median training seconds per epoch (result.json: train_seconds / epochs)
of the store's finished runs of each kind (ASC only, AET only, joint), measured on the
machine that trained them, one process at a time; data stages, plots and the report are
not counted. Prints one line per figure (runs new to the record, their epochs, minutes)
and the total.
"""
from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from aetasc.config import load_params
from aetasc.io import read_json
from aetasc.planning.cost import _kind as kind, planned_runs
from aetasc.training.trainer import branch_starts


def measured_rates(store: Path) -> dict[str, float]:
    """Median training seconds per epoch of each kind of run in a store."""
    seconds = defaultdict(list)
    for path in store.glob("*/result.json"):
        r = read_json(path)
        seconds[kind(r["alpha"])].append(r["train_seconds"] / r["epochs"])
    missing = {"asc", "aet", "joint"} - set(seconds)
    if missing:
        raise SystemExit(f"{store}: no finished run of kind {', '.join(sorted(missing))} to measure a rate from")
    return {k: statistics.median(v) for k, v in seconds.items()}


def trained_epochs(spec) -> int:
    """Epochs a run trains: its own, and each cooldown branch's (wsd)."""
    return spec.epochs + sum(e - start for start, budgets in branch_starts(spec).items() for e in budgets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--rates", type=Path, required=True, help="a run store whose runs give the seconds per epoch")
    args = ap.parse_args()
    params = load_params(args.params)
    rates = measured_rates(args.rates)
    print("seconds per epoch: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(rates.items())))
    seen, total = set(), 0.0
    for figure, runs in planned_runs(params).items():
        new = epochs = seconds = 0
        for run in runs:
            for spec in (run.pretrain_spec, run.spec):
                if spec is None or spec.fingerprint() in seen:
                    continue
                seen.add(spec.fingerprint())
                new, epochs = new + 1, epochs + trained_epochs(spec)
                seconds += trained_epochs(spec) * rates[kind(spec.alpha)]
        total += seconds
        print(f"{figure:>12}: {new:4d} new runs, {epochs:6d} epochs, {seconds / 60:6.1f} min")
    print(f"{'total':>12}: {len(seen):4d} runs, {total / 60:.0f} min of training ({total / 3600:.1f} h)")


if __name__ == "__main__":
    main()
