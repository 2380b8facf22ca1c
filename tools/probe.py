"""Run a stage script and record what it took: wall time, peak GPU and host memory.

    python -m tools.probe --record stage.json -- stages/train_figure.py --figure fig3a

The script runs in this process (as `python script args` would run it), so the peaks are
its own: GPU memory as torch's allocator reserved it at most, host memory as the largest
resident set of this process and of its largest child (decoding workers). The record is
written whether the script succeeds or fails, with its exit status.
"""
from __future__ import annotations

import argparse
import resource
import runpy
import sys
import time
from pathlib import Path

from aetasc.io import write_json


def _peaks() -> dict:
    out = {"host_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "child_peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
           "gpu_peak_bytes": None}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        out["gpu_peak_bytes"] = torch.cuda.max_memory_reserved()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", required=True, help="JSON file for the record")
    ap.add_argument("script")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    script = Path(args.script)
    sys.argv = [str(script), *[a for a in args.args if a != "--"]]
    sys.path.insert(0, str(script.parent))
    status, started = 0, time.perf_counter()
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as end:
        status = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
        if not isinstance(end.code, int) and end.code is not None:
            print(end.code, file=sys.stderr)
    except BaseException:
        status = 1
        raise
    finally:
        write_json(args.record, {"script": str(script), "args": sys.argv[1:], "exit_status": status,
                                 "seconds": time.perf_counter() - started, **_peaks()})
    return status


if __name__ == "__main__":
    sys.exit(main())
