"""What an AudioSet clip file's name says: its YouTube id and, where written, the segment.

Names published copies use: `<id>`, PANNs' `Y<id>`, DCASE's `Y<id>_<start>_<end>`, download
scripts' `<id>_<start>`, `<id>_<start>_<end>` and `<id>_<start>-<end>`; seconds as `30`,
`30.0`, `30.000` or zero-padded `000030` (VGGSound's form), or integer milliseconds
(`<id>_30000_40000`; the strong labels' segment ids are `<id>_<start ms>`). YouTube ids are
11 characters of [A-Za-z0-9_-]; a leading Y is PANNs' prefix only when an id follows it whole.

Which unit integers are in is decided, not guessed from their size (a start of 30000 s is a
real position in a long video, and 000030 is seconds):
- a number written with a decimal point is seconds;
- two integers are seconds when end - start is at most a segment's length (10 s), and
  milliseconds when it is more and at most 10,000 (10 s in ms): no segment is longer than
  10 s, so no span fits both; any other span names no segment;
- a start alone, an integer, is matched against the segment's start both as seconds and as
  milliseconds. Both readings fit one segment only at start 0, where they agree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from aetasc.data.audioset import Segment

CLIP_NAME = re.compile(r"^(?:Y(?=[A-Za-z0-9_-]{11}(?:_|$)))?(?P<id>[A-Za-z0-9_-]{11})"
                       r"(?:_(?P<start>\d+(?:\.\d+)?)(?:[_-](?P<end>\d+(?:\.\d+)?))?)?$")
SEGMENT_MAX_S = 10.0        # AudioSet's segments are at most 10 s (shorter where the video ends)
SPAN_TOLERANCE_S = 0.5      # rounding of the times a name writes
START_TOLERANCE_S = 1e-3    # the CSVs write starts to the millisecond


@dataclass(frozen=True)
class ClipName:
    """A clip file's id and the times its name writes (as written: seconds or milliseconds)."""
    ytid: str
    start: float | None = None
    end: float | None = None
    integers: bool = False      # every time written without a decimal point

    def scales(self) -> tuple[float, ...]:
        """Factors that turn the written times into seconds, in the order tried (module doc)."""
        if self.start is None or not self.integers:
            return (1.0,)
        if self.end is None:
            return (1.0, 1e-3)
        span = self.end - self.start
        if 0 < span <= SEGMENT_MAX_S + SPAN_TOLERANCE_S:
            return (1.0,)
        if 0 < span <= (SEGMENT_MAX_S + SPAN_TOLERANCE_S) * 1000:
            return (1e-3,)
        return ()

    def is_segment(self, segment: Segment) -> bool:
        """Whether a file so named can be `segment`'s clip: it writes no time, or a start that
        is the segment's in the name's unit (a name stating another start is another segment
        of the same video)."""
        if self.start is None:
            return True
        return any(abs(self.start * scale - segment.start) < START_TOLERANCE_S for scale in self.scales())


def parse_clip_name(stem: str) -> ClipName | None:
    """What a clip file's stem says, or None if it is no AudioSet clip name."""
    m = CLIP_NAME.match(stem)
    if m is None:
        return None
    start, end = m["start"], m["end"]
    integers = start is not None and "." not in start and (end is None or "." not in end)
    return ClipName(m["id"], None if start is None else float(start), None if end is None else float(end),
                    integers)
