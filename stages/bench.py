"""Benchmark (make bench): training step, feature front end, device matmul rate, levers, and
the projected cost of the paper's world on this device. Writes metrics/bench.json and prints
a table; `--help` lists the options (steps, shapes, runs sharing the GPU)."""
from aetasc.bench import main

if __name__ == "__main__":
    main()
