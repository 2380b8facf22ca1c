"""DVC stage rank_events: rank the event classes by how likely they occur in the scenes."""
import argparse
from pathlib import Path

from aetasc.config import load_params
from aetasc.io import atomic_dir, round_floats, write_json
from aetasc.events.ranking import rank_events
from aetasc.training.store import default_store, running_stage
from aetasc.errors import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--asc", default="data/asc")
    ap.add_argument("--aet", default="data/aet")
    ap.add_argument("--asc-features", default="data/features/asc")
    ap.add_argument("--pool-features", default="data/features/ranking_pool")
    ap.add_argument("--out", default="data/ranking")
    ap.add_argument("--runs", default=None, help="the run store, where the tagger trains (default: "
                                                  "$AETASC_RUN_STORE, else the workspace's data/runs)")
    ap.add_argument("--metrics", default="metrics/ranking.json")
    args = ap.parse_args()
    params = load_params(args.params)
    store = Path(args.runs or default_store())
    with atomic_dir(args.out) as tmp, running_stage(store, "rank_events"):
        summary = rank_events(params, Path(args.asc), Path(args.aet), Path(args.asc_features),
                              Path(args.pool_features), tmp, store)
    write_json(args.metrics, round_floats(summary))
    for key, value in summary.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    run_stage(main)
