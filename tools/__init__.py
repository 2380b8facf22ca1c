"""Measurement tools outside the installed package: the benchmark, the GPU check, the stage
probe and fabricated paper-format data (run from the repository root: `python -m tools.bench`)."""
