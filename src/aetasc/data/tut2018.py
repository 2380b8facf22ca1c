"""The layout of TUT Urban Acoustic Scenes 2018 (development set, DCASE 2018 Task 1A).

    <root>/audio/<scene>-<city>-<location>-<segment>-<device>.wav
    <root>/meta.csv                          tab-separated, header:
                                             filename scene_label identifier source_label
    <root>/evaluation_setup/fold1_train.txt  no header: audio/<file>.wav <TAB> <scene>
    <root>/evaluation_setup/fold1_evaluate.txt

The split keeps recording locations (`identifier`, e.g. `barcelona-0`) apart. The same
reader serves the real release and the synthetic world.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from aetasc.errors import AetascError

META_HEADER = ("filename", "scene_label", "identifier", "source_label")
FOLDS = {"train": "evaluation_setup/fold1_train.txt",
         "evaluate": "evaluation_setup/fold1_evaluate.txt"}


class LayoutError(AetascError, ValueError):
    """A data set folder does not hold what its layout promises."""


def read_utf8(path: str | Path) -> str:
    """A table's text: UTF-8, a BOM accepted. Anything else (Excel's "Unicode text" is
    UTF-16, its plain "Text" cp1252) is a LayoutError naming the file and the fix."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:200]
        kind = "UTF-16 (Excel's \"Unicode text\")" if utf16 else f"byte 0x{data[err.start]:02x} at offset {err.start}"
        raise LayoutError(f"{path}: not UTF-8 ({kind}); save it as UTF-8 (Excel: \"CSV UTF-8\") "
                          f"and try again") from None


@dataclass(frozen=True)
class SceneClip:
    filename: str      # relative to the data set root, e.g. "audio/airport-barcelona-0-0-a.wav"
    scene: str
    identifier: str    # recording location
    source: str        # recording device
    split: str         # "train" or "evaluate"

    @property
    def clip_id(self) -> str:
        return Path(self.filename).stem


@dataclass(frozen=True)
class SceneDataset:
    root: Path
    clips: tuple[SceneClip, ...]

    @property
    def scenes(self) -> list[str]:
        return sorted({c.scene for c in self.clips})

    def split(self, name: str) -> list[SceneClip]:
        return [c for c in self.clips if c.split == name]


def _read_rows(path: Path, expected_fields: int) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank lines; a BOM and CRLF line ends are accepted."""
    if not path.is_file():
        raise LayoutError(f"{path}: missing (is this a TUT Urban Acoustic Scenes 2018 folder?)")
    rows = []
    with io.StringIO(read_utf8(path), newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != expected_fields:
                hint = " (commas, not tabs, between fields?)" if len(row) == 1 and "," in row[0] else ""
                raise LayoutError(f"{path}:{lineno}: expected {expected_fields} tab-separated "
                                  f"fields, got {len(row)}{hint}: {row!r}")
            rows.append((lineno, [field.strip() for field in row]))
    return rows


def read_tut2018(root: str | Path) -> SceneDataset:
    """Read meta.csv and fold 1; every clip named in a fold must be in meta.csv."""
    root = Path(root)
    meta_rows = _read_rows(root / "meta.csv", len(META_HEADER))
    if not meta_rows or tuple(meta_rows[0][1]) != META_HEADER:
        raise LayoutError(f"{root / 'meta.csv'}: header must be {' '.join(META_HEADER)}")
    meta, first = {}, {}
    for lineno, (filename, scene, identifier, source) in meta_rows[1:]:
        if filename in meta:
            raise LayoutError(f"{root / 'meta.csv'}:{lineno}: {filename} is listed twice (first on "
                              f"line {first[filename]})")
        meta[filename], first[filename] = (scene, identifier, source), lineno
    clips, listed = [], {}
    for split, rel in FOLDS.items():
        for lineno, (filename, scene) in _read_rows(root / rel, 2):
            if filename in listed:
                raise LayoutError(f"{root / rel}:{lineno}: {filename} is listed twice (first in "
                                  f"{listed[filename]})")
            listed[filename] = f"{rel}:{lineno}"
            if filename not in meta:
                raise LayoutError(f"{root / rel}:{lineno}: {filename} has no row in meta.csv")
            meta_scene, identifier, source = meta[filename]
            if meta_scene != scene:
                raise LayoutError(f"{root / rel}:{lineno}: {filename} is '{scene}' here but "
                                  f"'{meta_scene}' in meta.csv")
            clips.append(SceneClip(filename, scene, identifier, source, split))
    _check_locations_disjoint(root, clips)
    return SceneDataset(root, tuple(clips))


def _check_locations_disjoint(root: Path, clips: list[SceneClip]) -> None:
    train = {c.identifier for c in clips if c.split == "train"}
    shared = sorted(train & {c.identifier for c in clips if c.split == "evaluate"})
    if shared:
        raise LayoutError(f"{root}: recording locations in both train and evaluate folds: "
                          f"{', '.join(shared[:5])}")


def check_audio_labelled(dataset: SceneDataset, suffixes=(".wav", ".flac")) -> None:
    """Every audio file under root/audio must have its row in a fold: name the first that has none."""
    labelled = {c.filename for c in dataset.clips}
    for path in sorted((dataset.root / "audio").rglob("*")):
        if path.is_file() and path.suffix.lower() in suffixes \
                and path.relative_to(dataset.root).as_posix() not in labelled:
            raise LayoutError(f"{path}: audio file with no label row in {dataset.root / 'meta.csv'} "
                              f"and the fold 1 lists (label it or remove it)")


def write_tut2018(root: str | Path, clips: list[SceneClip]) -> None:
    """Write meta.csv and the fold files for clips whose audio is already under root."""
    root = Path(root)
    (root / "evaluation_setup").mkdir(parents=True, exist_ok=True)
    with (root / "meta.csv").open("w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(META_HEADER)
        for c in clips:
            w.writerow((c.filename, c.scene, c.identifier, c.source))
    for split, rel in FOLDS.items():
        with (root / rel).open("w", newline="") as f:
            w = csv.writer(f, delimiter="\t", lineterminator="\n")
            for c in clips:
                if c.split == split:
                    w.writerow((c.filename, c.scene))
