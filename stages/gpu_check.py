"""The prepared GPU check (not a DVC stage): `python stages/gpu_check.py --help`.

Runs the benchmark, the GPU tests and a paper-shape pipeline on fabricated paper-format
audio on a CUDA machine, and prints one met / NOT met line per target (aetasc.gpu_check).
"""
from aetasc.gpu_check import main

if __name__ == "__main__":
    main()
