"""The layout of AudioSet as this project keeps it.

    <root>/class_labels_indices.csv      index,mid,display_name (header row)
    <root>/balanced_train_segments.csv   official segment CSVs: three '#' header lines, then
    <root>/unbalanced_train_segments.csv   YTID, start_seconds, end_seconds, "mid1,mid2,..."
    <root>/eval_segments.csv
    <root>/audio/<YTID>.wav|.flac        one file per clip
    <root>/availability.csv              ytid,split,status,path (status: present|missing|corrupt)

The balanced training set is the ranking pool (the tagger learns every class there), the
unbalanced training set is what AET subsets are drawn from, and the eval set gives each
class set its fixed AET validation clips.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .tut2018 import LayoutError

SPLITS = {
    "balanced_train": "balanced_train_segments.csv",
    "unbalanced_train": "unbalanced_train_segments.csv",
    "eval": "eval_segments.csv",
}
CLASS_TABLE = "class_labels_indices.csv"
AVAILABILITY = "availability.csv"
AUDIO_SUFFIXES = (".wav", ".flac")
STATUSES = ("present", "missing", "corrupt")


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


def read_segments_csv(path: str | Path) -> list[Segment]:
    """Parse an official AudioSet segment CSV; a malformed row names its line number."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: missing")
    segments = []
    with path.open(newline="") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            row = next(csv.reader([line], skipinitialspace=True))
            if len(row) != 4:
                raise LayoutError(f"{path}:{lineno}: expected 4 fields "
                                  f"(YTID, start_seconds, end_seconds, labels), got {len(row)}")
            ytid, start, end, labels = row
            try:
                start_s, end_s = float(start), float(end)
            except ValueError:
                raise LayoutError(f"{path}:{lineno}: start/end seconds are not numbers: "
                                  f"{start!r}, {end!r}") from None
            mids = tuple(m.strip() for m in labels.split(",") if m.strip())
            if not ytid.strip() or end_s <= start_s or not mids:
                raise LayoutError(f"{path}:{lineno}: needs a YTID, end > start and at least "
                                  f"one label: {line.strip()!r}")
            segments.append(Segment(ytid.strip(), start_s, end_s, mids))
    return segments


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
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [h.strip() for h in rows[0]] != ["index", "mid", "display_name"]:
        raise LayoutError(f"{path}: header must be index,mid,display_name")
    classes = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != 3 or not row[0].strip().isdigit():
            raise LayoutError(f"{path}:{lineno}: expected index,mid,display_name, got {row!r}")
        classes.append(EventClass(int(row[0]), row[1].strip(), row[2].strip()))
    if [c.index for c in classes] != list(range(len(classes))):
        raise LayoutError(f"{path}: indices must run 0..{len(classes) - 1} in order")
    return classes


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


def read_availability(root: str | Path) -> list[Availability]:
    path = Path(root) / AVAILABILITY
    if not path.is_file():
        raise LayoutError(f"{path}: missing (the acquire_aet stage writes it)")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != ["ytid", "split", "status", "path"]:
            raise LayoutError(f"{path}: header must be ytid,split,status,path")
        rows = []
        for lineno, r in enumerate(reader, start=2):
            if r["status"] not in STATUSES or r["split"] not in SPLITS:
                raise LayoutError(f"{path}:{lineno}: unknown status or split: {r!r}")
            rows.append(Availability(r["ytid"], r["split"], r["status"], r["path"]))
    return rows


def write_availability(root: str | Path, rows: list[Availability]) -> dict[str, int]:
    """Write the manifest and return the count per status."""
    with (Path(root) / AVAILABILITY).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["ytid", "split", "status", "path"])
        for r in rows:
            w.writerow([r.ytid, r.split, r.status, r.path])
    return {s: sum(r.status == s for r in rows) for s in STATUSES}


@dataclass(frozen=True)
class AudioSetLayout:
    """An acquired AudioSet folder: classes, segments per split, and the clips present."""
    root: Path
    classes: tuple[EventClass, ...]
    segments: dict[str, tuple[Segment, ...]]   # split -> segments whose audio is present
    paths: dict[str, str]                       # ytid -> audio path relative to root


def read_audioset(root: str | Path) -> AudioSetLayout:
    """Read classes, segment CSVs and the availability manifest; keep the clips present.

    Missing and corrupt clips are normal for AudioSet; they are dropped here, never counted
    as present. A label that is not in the class table is an error naming the split.
    """
    root = Path(root)
    classes = read_class_labels(root / CLASS_TABLE)
    known = {c.mid for c in classes}
    present = {a.ytid: a.path for a in read_availability(root) if a.status == "present"}
    segments = {}
    for split, name in SPLITS.items():
        kept = []
        for s in read_segments_csv(root / name):
            unknown = [m for m in s.labels if m not in known]
            if unknown:
                raise LayoutError(f"{root / name}: clip {s.ytid} has labels not in "
                                  f"{CLASS_TABLE}: {', '.join(unknown)}")
            if s.ytid in present:
                kept.append(s)
        segments[split] = tuple(kept)
    return AudioSetLayout(root, tuple(classes), segments, present)
