"""DVC stage plan: the plan of the world's figures (metrics/plan.json; the table is printed):
the subsets make_subsets built, the clips to fetch and extract, their storage, the runs each
figure trains and, in the paper world, the GPU-hours (aetasc.planning)."""
import argparse

from aetasc.config import load_params
from aetasc.errors import run_stage
from aetasc.io import write_json
from aetasc.planning.data_plan import format_plan, plan_from_subsets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--aet", default="data/aet")
    ap.add_argument("--subsets", default="data/subsets")
    ap.add_argument("--out", default="metrics/plan.json")
    args = ap.parse_args()
    plan = plan_from_subsets(load_params(args.params), args.subsets, args.aet)
    write_json(args.out, plan)
    print(format_plan(plan))


if __name__ == "__main__":
    run_stage(main)
