"""DVC stage acquire_aet: the event pool in the AudioSet layout.

synthetic world: generate it; paper world: download the segment lists and gather the clips.
"""
import argparse

from aetasc.config import load_params
from aetasc.data import synthetic
from aetasc.io import atomic_dir
from aetasc.errors import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/aet")
    args = ap.parse_args()
    params = load_params(args.params)
    if params.world == "synthetic":
        with atomic_dir(args.out) as tmp:
            synthetic.generate_aet(params.active.source, tmp)
    else:
        from aetasc.data.audioset_source import acquire_audioset
        acquire_audioset(params.active.source, args.out, min_sample_rate=params.active.min_sample_rate)


if __name__ == "__main__":
    run_stage(main)
