"""The one base of this project's errors, and the boundary every stage script runs inside.

An `AetascError` is a failure the user can act on: bad params, a file in the wrong layout,
a source that refused, a damaged store entry. Its message names the file, key or clip and
the likely cause, so a stage prints it in a line or two and exits non-zero. Any other
exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


class AetascError(Exception):
    """A failure with a message for the user (the file, key or clip, and the likely cause)."""


def run_stage(main: Callable[[], object]) -> None:
    """Run a stage script's `main()`: one of our errors becomes `<script> <args>: <message>`
    on stderr and exit status 1."""
    try:
        main()
    except AetascError as err:
        command = " ".join([Path(sys.argv[0]).stem, *sys.argv[1:]])
        print(f"{command}: {err}", file=sys.stderr)
        sys.exit(1)
