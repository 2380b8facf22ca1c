"""DVC stage plot: the paper's figures (Figs 2-5 and the regularizer study) as PNGs.

Reads metrics/<figure>.json from the train stages; every figure needs its file, so a
missing one stops the stage with its name before anything is drawn.
"""
import argparse
import sys

from aetasc.analysis.plots import render
from aetasc.errors import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", default="metrics")
    ap.add_argument("--out", default="figures")
    args = ap.parse_args()
    try:
        written = render(args.metrics, args.out)
    except FileNotFoundError as err:
        sys.exit(f"plot: {err}")
    for path in written:
        print(f"plot: {path}")


if __name__ == "__main__":
    run_stage(main)
