"""DVC stages baselines, train@<figure> and sweep@<figure>: train a figure's grid (grid point
x seed) and aggregate it.

Writes metrics/<figure>.json (per-seed values, mean, std, statistics) and
metrics/<figure>.csv (one row per grid point, for `dvc plots`). Finished runs are taken
from the run store (aetasc.training.store: $AETASC_RUN_STORE, else the workspace's data/runs)
instead of being retrained.

Under torchrun (`torchrun --nproc_per_node=N stages/train_figure.py --figure fig3b`) each
rank takes the runs no other rank has claimed and rank 0 alone writes the metrics
(aetasc.training.distributed).
"""
import argparse
import csv
from pathlib import Path

from aetasc.config import load_params
from aetasc.training.distributed import Launch, process_group
from aetasc.experiments.aggregate import write_points_csv
from aetasc.experiments.data import Paths
from aetasc.experiments.grid import FIGURES
from aetasc.experiments.runner import run_figure
from aetasc.io import round_floats, write_json
from aetasc.training.store import default_store, running_stage
from aetasc.errors import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--figure", required=True, choices=FIGURES)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--features", default="data/features")
    ap.add_argument("--subsets", default="data/subsets")
    ap.add_argument("--runs", default=None, help="the run store (default: $AETASC_RUN_STORE, "
                                                  "else the workspace's data/runs)")
    ap.add_argument("--metrics", default="metrics")
    args = ap.parse_args()
    params = load_params(args.params)
    metrics = Path(args.metrics)
    paths = Paths(asc_features=Path(args.features) / "asc", aet_features=Path(args.features) / "aet_subsets",
                  subsets=Path(args.subsets), runs=Path(args.runs or default_store()),
                  baselines=metrics / "baselines.json")
    launch = Launch.from_env()
    with process_group(launch) as group, running_stage(paths.runs, f"train_figure --figure {args.figure}"):
        summary = run_figure(args.figure, params, paths, rank=launch.rank, world_size=launch.world_size,
                             device=group.device, barrier=group.barrier)
    if summary is None:          # not rank 0: its runs are in the store, rank 0 aggregates
        return
    summary = round_floats(summary)           # metrics/ keeps METRIC_DIGITS decimals
    curves = summary.pop("curves")
    write_json(metrics / f"{args.figure}.json", summary)
    write_points_csv(metrics / f"{args.figure}.csv", summary)
    write_curves(metrics / "curves" / f"{args.figure}.csv", curves)
    for label, p in summary["points"].items():
        acc = p.get("asc_accuracy")
        print(f"{args.figure} {label}: ASC accuracy "
              + (f"{acc['mean']:.3f} +- {acc['std']:.3f}" if acc else "n/a")
              + (f", lwlrap {p['lwlrap']['mean']:.3f}" if p.get("lwlrap") else ""))


def write_curves(path: Path, curves: dict) -> None:
    """Per-epoch means over seeds, one column per (grid point, metric), for `dvc plots`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [(label, key) for label, rows in curves.items() for key in rows[0] if key != "epoch"]
    epochs = max(len(rows) for rows in curves.values())
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["epoch"] + [f"{label}/{key}" for label, key in columns])
        for e in range(epochs):
            w.writerow([e + 1] + [curves[label][e].get(key, "") if e < len(curves[label]) else ""
                                  for label, key in columns])


if __name__ == "__main__":
    run_stage(main)
