"""Progress bars: redrawn on a terminal, plain periodic lines in a redirected log.

A redrawn bar writes carriage returns and cursor movements; in a log file (a DVC stage's
output, a CI job) that becomes hundreds of kilobytes of control codes around a few lines
of content. Off a terminal, each bar instead prints one ASCII line when it starts, at most
one every LOG_INTERVAL_S seconds while it runs, and one when it ends (if it is kept).
"""
from __future__ import annotations

import sys

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


class _Lines:
    """A stream for tqdm that turns each redraw into one line, without control codes."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\x1b[A", "").replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def bar(iterable=None, **kwargs) -> tqdm:
    """tqdm(iterable, **kwargs) on a terminal; off one, a bar that logs plain lines."""
    stream = kwargs.pop("file", None) or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        kwargs.update(file=_Lines(stream), mininterval=LOG_INTERVAL_S, maxinterval=LOG_INTERVAL_S,
                      ascii=True, ncols=100, position=None)
    else:
        kwargs["file"] = stream
    return tqdm(iterable, **kwargs)
