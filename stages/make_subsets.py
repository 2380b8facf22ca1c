"""DVC stage make_subsets: the clips of every experiment (AET subsets, ASC folds)."""
import argparse
import sys
from pathlib import Path

from aetasc.config import load_params
from aetasc.data.audioset import read_audioset
from aetasc.data.tut2018 import read_tut2018
from aetasc.experiments import asked_by
from aetasc.io import atomic_dir
from aetasc.ranking import read_ranking
from aetasc.subsets import SubsetError, check_pool_hours, make_subsets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--asc", default="data/asc")
    ap.add_argument("--aet", default="data/aet")
    ap.add_argument("--ranking", default="data/ranking/ranking.csv")
    ap.add_argument("--out", default="data/subsets")
    args = ap.parse_args()
    params = load_params(args.params)
    ranking = [r.mid for r in read_ranking(Path(args.ranking))]
    requests = asked_by(params)
    layout = read_audioset(args.aet)
    try:
        check_pool_hours(params, list(layout.segments["unbalanced_train"]))
        with atomic_dir(args.out) as tmp:
            summary = make_subsets(sorted(requests), ranking, layout, read_tut2018(args.asc), tmp, requests)
    except SubsetError as err:
        sys.exit(f"make_subsets: {err}")
    print(f"{summary['subsets']} AET subsets; {summary['aet_clips']} distinct AET clips "
          f"({summary['aet_hours']} h) to extract")


if __name__ == "__main__":
    main()
