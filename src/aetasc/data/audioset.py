"""The layout of AudioSet as this project keeps it.

    <root>/class_labels_indices.csv      index,mid,display_name (header row)
    <root>/balanced_train_segments.csv   official segment CSVs: three '#' header lines, then
    <root>/unbalanced_train_segments.csv   YTID, start_seconds, end_seconds, "mid1,mid2,..."
    <root>/eval_segments.csv
    <root>/audio/<YTID>.wav|.flac        one file per clip
    <root>/availability.csv              ytid,split,status,path (status: present|missing|
                                         corrupt|pending)

The balanced training set is the ranking pool (the tagger learns every class there), the
unbalanced training set is what AET subsets are drawn from, and the eval set gives each
class set its fixed AET validation clips. In the paper's world unbalanced_train's clips are
`pending` after acquisition: the make_subsets stage fetches only those its subsets need.
"""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from aetasc.data.tut2018 import LayoutError, read_utf8

SPLITS = {
    "balanced_train": "balanced_train_segments.csv",
    "unbalanced_train": "unbalanced_train_segments.csv",
    "eval": "eval_segments.csv",
}
CLASS_TABLE = "class_labels_indices.csv"
AVAILABILITY = "availability.csv"
AVAILABILITY_HEADER = ["ytid", "split", "status", "path"]
AUDIO_SUFFIXES = (".wav", ".flac")
STATUSES = ("present", "missing", "corrupt", "pending")   # pending: listed, not fetched yet


@dataclass(frozen=True)
class Segment:
    ytid: str
    start: float
    end: float
    labels: tuple[str, ...]   # machine ids (mids), e.g. "/m/09x0r"

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class EventClass:
    index: int
    mid: str
    name: str


YTID = re.compile(r"^[A-Za-z0-9_-]{11}$")      # YouTube ids: 11 characters of this alphabet
MID = re.compile(r"^/[a-z]/[0-9A-Za-z_]+$")     # Freebase / Google ids: /m/09x0r, /t/dd00001
SEGMENT_SECONDS = 10.0                          # AudioSet's segments are at most 10 s long
NUM_SEGS = re.compile(r"num_segs=(\d+)")


def read_segments_csv(path: str | Path) -> list[Segment]:
    """Parse an official AudioSet segment CSV; anything wrong names its line.

    The official files begin with up to three '#' lines, the second stating num_segs; the row
    count must match it (a file cut short is not taken for a smaller one). A '#' line after
    them is an error (no YouTube id starts with '#'), and so is every row a spreadsheet may
    have damaged: an id that is not 11 characters of [A-Za-z0-9_-] (a formula, an error
    value), a wrong field count (quotes around the labels lost, trailing empty fields),
    start and end that are not finite with 0 <= start < end <= start + 10 s, a label that is
    not an ontology id, an id listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: missing")
    segments, first_line, num_segs = [], {}, None
    with io.StringIO(read_utf8(path), newline="") as f:      # a BOM is accepted; UTF-8 only
        header = True
        for lineno, line in enumerate(f, start=1):
            if header and line.startswith("#") and lineno <= 3:
                if (m := NUM_SEGS.search(line)) is not None:
                    num_segs = int(m.group(1))
                continue
            header = False
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            if line.startswith("#"):
                raise LayoutError(f"{where}: a '#' line after the header; no YouTube id starts with "
                                  f"'#' (a spreadsheet error value?): {line.strip()[:80]!r}")
            segment = _segment(next(csv.reader([line], skipinitialspace=True)), where, line)
            if segment.ytid in first_line:
                raise LayoutError(f"{where}: {segment.ytid} is listed twice (first on line "
                                  f"{first_line[segment.ytid]})")
            first_line[segment.ytid] = lineno
            segments.append(segment)
    if num_segs is not None and num_segs != len(segments):
        raise LayoutError(f"{path}: holds {len(segments)} segments, its header says num_segs={num_segs} "
                          f"(cut short, or rows lost?)")
    return segments


def _segment(row: list[str], where: str, line: str) -> Segment:
    if len(row) != 4:
        hint = ("trailing empty fields" if len(row) > 4 and not any(row[4:]) else
                "the quotes around the labels lost?" if len(row) > 4 else "fields missing")
        raise LayoutError(f"{where}: expected 4 fields (YTID, start_seconds, end_seconds, "
                          f'"labels"), got {len(row)}: {hint}: {line.strip()[:80]!r}')
    ytid, start, end, labels = (v.strip() for v in row)
    if not YTID.match(ytid):
        raise LayoutError(f"{where}: {ytid[:40]!r} is not an 11-character YouTube id "
                          f"(a spreadsheet formula or error value?)")
    try:
        start_s, end_s = float(start), float(end)
    except ValueError:
        raise LayoutError(f"{where}: start/end seconds are not numbers: {start!r}, {end!r}") from None
    if not (math.isfinite(start_s) and math.isfinite(end_s)
            and 0 <= start_s < end_s <= start_s + SEGMENT_SECONDS + 1e-6):
        raise LayoutError(f"{where}: start {start!r} and end {end!r} must be finite, with "
                          f"0 <= start < end <= start + {SEGMENT_SECONDS:g} s")
    mids = tuple(m.strip() for m in labels.split(","))
    bad = [m for m in mids if not MID.match(m)]
    if bad or not mids:
        raise LayoutError(f"{where}: labels must be ontology ids like /m/09x0r, got {labels[:80]!r}")
    return Segment(ytid, start_s, end_s, mids)


def write_segments_csv(path: str | Path, segments: list[Segment]) -> None:
    n_labels = sum(len(s.labels) for s in segments)
    n_unique = len({m for s in segments for m in s.labels})
    with Path(path).open("w") as f:
        f.write("# Segments csv created by aetasc\n")
        f.write(f"# num_ytids={len(segments)}, num_segs={len(segments)}, "
                f"num_unique_labels={n_unique}, num_positive_labels={n_labels}\n")
        f.write("# YTID, start_seconds, end_seconds, positive_labels\n")
        for s in segments:
            f.write(f'{s.ytid}, {s.start:.3f}, {s.end:.3f}, "{",".join(s.labels)}"\n')


def read_class_labels(path: str | Path) -> list[EventClass]:
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: missing")
    with io.StringIO(read_utf8(path), newline="") as f:      # a BOM and CRLF are accepted; UTF-8 only
        rows = list(csv.reader(f))
    while rows and not any(v.strip() for v in rows[-1]):
        rows.pop()                                              # blank lines at the end, too
    if not rows or [h.strip() for h in rows[0]] != ["index", "mid", "display_name"]:
        got = rows[0] if rows else []
        hint = ("; it uses ';' between fields (a spreadsheet's export?), the table uses ','"
                if len(got) == 1 and ";" in got[0] else "")
        raise LayoutError(f"{path}:1: header must be index,mid,display_name, got {got!r}{hint}")
    classes = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in row):
            raise LayoutError(f"{path}:{lineno}: a blank line inside the table (the indices must "
                              f"run on; blank lines only at the end)")
        if len(row) != 3 or not row[0].strip().isdigit():
            raise LayoutError(f"{path}:{lineno}: expected index,mid,display_name, got {row!r}")
        classes.append(EventClass(int(row[0]), row[1].strip(), row[2].strip()))
    if [c.index for c in classes] != list(range(len(classes))):
        raise LayoutError(f"{path}: indices must run 0..{len(classes) - 1} in order")
    first = {}
    for c in classes:
        if c.mid in first:
            raise LayoutError(f"{path}:{c.index + 2}: class {c.mid} is listed twice (first on line "
                              f"{first[c.mid] + 2})")
        first[c.mid] = c.index
    return classes


def check_splits(segments: dict[str, list[Segment]], classes: list[EventClass], where: Path) -> None:
    """Every label is a class of the table, and no clip is in two splits (an evaluation clip
    in a training split would leak)."""
    known = {c.mid for c in classes}
    seen: dict[str, str] = {}
    for split, segs in segments.items():
        for s in segs:
            unknown = [m for m in s.labels if m not in known]
            if unknown:
                raise LayoutError(f"{where / SPLITS[split]}: clip {s.ytid} has labels not in "
                                  f"{CLASS_TABLE}: {', '.join(unknown)}")
            if seen.setdefault(s.ytid, split) != split:
                raise LayoutError(f"{where}: clip {s.ytid} is in both {SPLITS[seen[s.ytid]]} and "
                                  f"{SPLITS[split]}")


def write_class_labels(path: str | Path, classes: list[EventClass]) -> None:
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["index", "mid", "display_name"])
        for c in classes:
            w.writerow([c.index, c.mid, c.name])


@dataclass(frozen=True)
class Availability:
    ytid: str
    split: str
    status: str
    path: str          # relative to the data set root; empty unless present
    reason: str = ""   # why a clip is not present (yt-dlp: its exit status and last stderr line)


def read_availability(root: str | Path) -> list[Availability]:
    path = Path(root) / AVAILABILITY
    if not path.is_file():
        raise LayoutError(f"{path}: missing (the acquire_aet stage writes it)")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames not in (AVAILABILITY_HEADER, [*AVAILABILITY_HEADER, "reason"]):
            raise LayoutError(f"{path}: header must be {','.join(AVAILABILITY_HEADER)}[,reason]")
        rows = []
        for lineno, r in enumerate(reader, start=2):
            if r["status"] not in STATUSES or r["split"] not in SPLITS:
                raise LayoutError(f"{path}:{lineno}: unknown status or split: {r!r}")
            rows.append(Availability(r["ytid"], r["split"], r["status"], r["path"], r.get("reason", "")))
    return rows


def write_availability(root: str | Path, rows: list[Availability]) -> dict[str, int]:
    """Write the manifest and return the count per status; the reason column only when a
    row has one (the synthetic world's clips are all present)."""
    reasons = any(r.reason for r in rows)
    with (Path(root) / AVAILABILITY).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(AVAILABILITY_HEADER + ["reason"] * reasons)
        for r in rows:
            w.writerow([r.ytid, r.split, r.status, r.path] + [r.reason] * reasons)
    return {s: sum(r.status == s for r in rows) for s in STATUSES}


@dataclass(frozen=True)
class AudioSetLayout:
    """An acquired AudioSet folder: classes, segments per split, and the clips present."""
    root: Path
    classes: tuple[EventClass, ...]
    segments: dict[str, tuple[Segment, ...]]   # split -> segments whose audio is present
    paths: dict[str, str]                       # ytid -> audio path relative to root
    listed: dict[str, tuple[Segment, ...]]     # split -> every segment of its CSV
    status: dict[str, str]                      # ytid -> present | missing | corrupt | pending

    def usable(self, split: str) -> list[Segment]:
        """The listed segments of a split not known to be missing or corrupt."""
        return [s for s in self.listed[split] if self.status.get(s.ytid) in ("present", "pending")]


def read_audioset(root: str | Path) -> AudioSetLayout:
    """Read classes, segment CSVs and the availability manifest; keep the clips present.

    Missing and corrupt clips are normal for AudioSet; they are dropped here, never counted
    as present. A label that is not in the class table is an error naming the split.
    """
    root = Path(root)
    classes = read_class_labels(root / CLASS_TABLE)
    every = {split: read_segments_csv(root / name) for split, name in SPLITS.items()}
    check_splits(every, classes, root)
    availability = read_availability(root)
    present = {a.ytid: a.path for a in availability if a.status == "present"}
    segments = {split: tuple(s for s in segs if s.ytid in present) for split, segs in every.items()}
    return AudioSetLayout(root, tuple(classes), segments, present, {k: tuple(v) for k, v in every.items()},
                          {a.ytid: a.status for a in availability})
