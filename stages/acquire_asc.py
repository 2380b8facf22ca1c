"""DVC stage acquire_asc: the scene data set in the TUT Urban Acoustic Scenes 2018 layout.

synthetic world: generate it; paper world: download or import the real release.
"""
import argparse

from aetasc.config import load_params
from aetasc.data import synthetic
from aetasc.io import atomic_dir
from aetasc.errors import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/asc")
    args = ap.parse_args()
    params = load_params(args.params)
    if params.world == "synthetic":
        with atomic_dir(args.out) as tmp:
            synthetic.generate_asc(params.active.source, tmp)
    else:
        from aetasc.data.tut2018_source import acquire_tut2018
        acquire_tut2018(params.active.source, args.out)


if __name__ == "__main__":
    run_stage(main)
