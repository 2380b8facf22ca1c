"""Acquire TUT Urban Acoustic Scenes 2018 (development): download its zips (or take them,
or the extracted data set, from a local folder), verify, unpack, validate.

The zips are kept in `sources.download_dir` between runs; a local extracted data set is
linked into the output, never copied (see `source` for what both acquisitions share).
"""
from __future__ import annotations

import csv
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tqdm import tqdm

from aetasc.config import PaperSources
from aetasc.io import atomic_dir, write_json
from aetasc.data.download import (ChecksumError, DownloadError, check_free_space, download, file_digest,
                                  is_verified, link_file, safe_extract)
from aetasc.data.source import KEY, MANIFEST, SourceError, download_root, retry_policy
from aetasc.data.tut2018 import LayoutError, SceneDataset, read_tut2018, read_utf8

FILE_TABLE = "tut2018_development_files.tsv"
TUT_FOLDER = "TUT-urban-acoustic-scenes-2018-development"
TUT_LAYOUT = ("audio", "meta.csv", "evaluation_setup")


@dataclass(frozen=True)
class RemoteFile:
    name: str
    bytes: int
    md5: str


def read_file_table(path: str | Path | None = None) -> list[RemoteFile]:
    """The zips of the release (filename, bytes, md5; tab-separated with a header).

    None reads the packaged list of the 15 development zips (Zenodo record 1228142).
    """
    if path is None:
        source, text = FILE_TABLE, resources.files(__package__).joinpath(FILE_TABLE).read_text()
    else:
        path = Path(path).expanduser()
        source, text = str(path), read_utf8(path)
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    if not rows or rows[0] != ["filename", "bytes", "md5"]:
        raise LayoutError(f"{source}: header must be filename<TAB>bytes<TAB>md5")
    files = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 3 or not row[1].isdigit() or len(row[2]) != 32:
            raise LayoutError(f"{source}:{lineno}: expected filename, bytes, 32-digit md5; got {row!r}")
        if not is_plain_name(row[0]):
            raise LayoutError(f"{source}:{lineno}: filename {row[0]!r} is not a plain file name (a path, "
                              f"'..', a separator or a control character); list each zip by its name "
                              f"alone, as the release has it: it is fetched from <tut2018_url>/<name> "
                              f"into the download folder, and looked for in tut2018_dir")
        files.append(RemoteFile(row[0], int(row[1]), row[2].lower()))
    return files


def is_plain_name(name: str) -> bool:
    """A name that stays inside whatever folder it is joined onto: no separator (/ or \\), no
    drive, not '.' or '..', no control character, not absolute."""
    return (bool(name) and name not in (".", "..") and not any(c in name for c in "/\\:")
            and all(ord(c) >= 32 and c != "\x7f" for c in name))



def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def acquire_tut2018(sources: PaperSources, out: str | Path, progress: bool = True) -> SceneDataset:
    """Bring the TUT 2018 development set into `out` (the tut2018 layout) and validate it.

    From `sources.tut2018_dir` (the zips, or the extracted data set) when set, else from
    `sources.tut2018_url` through `sources.download_dir`. `out` appears only when complete.
    """
    files = read_file_table(sources.tut2018_files)
    out = Path(out)
    with atomic_dir(out) as tmp:
        if sources.tut2018_dir:
            record = _import_tut2018(Path(sources.tut2018_dir).expanduser(), files, sources, tmp, progress)
        else:
            zips = _download_tut2018(sources, files, progress)
            record = {"source": sources.tut2018_url, **_unpack(zips, files, tmp, progress)}
        dataset = validate_tut2018(tmp)
        record["clips"] = len(dataset.clips)
        write_json(tmp / MANIFEST, record)
    dataset = read_tut2018(out)
    print(f"TUT 2018 development: {len(dataset.clips)} clips "
          f"({len(dataset.split('train'))} train, {len(dataset.split('evaluate'))} evaluate), "
          f"{len(dataset.scenes)} scenes, in {out} (from {record['source']})")
    return dataset


def validate_tut2018(root: str | Path) -> SceneDataset:
    """read_tut2018, plus: audio/ holds exactly the WAV files that meta.csv lists."""
    root = Path(root)
    dataset = read_tut2018(root)
    with (root / "meta.csv").open(newline="") as f:
        listed = {row[0].strip() for row in list(csv.reader(f, delimiter="\t"))[1:] if row}
    audio = root / "audio"
    on_disk = {f"audio/{p.name}" for p in audio.glob("*.wav")} if audio.is_dir() else set()
    missing, extra = sorted(listed - on_disk), sorted(on_disk - listed)
    if missing or extra:
        raise LayoutError(f"{root}: meta.csv lists {len(listed)} clips, audio/ holds "
                          f"{len(on_disk)} WAV files: {len(missing)} listed but absent "
                          f"{missing[:3]}, {len(extra)} present but unlisted {extra[:3]} "
                          f"(an incomplete extraction, or another data set?)")
    return dataset


def _tut_hint(sources: PaperSources, files: list[RemoteFile]) -> str:
    table = sources.tut2018_files or resources.files(__package__).joinpath(FILE_TABLE)
    return (f"TUT Urban Acoustic Scenes 2018 (development) is {len(files)} zip files, "
            f"{_gb(sum(f.bytes for f in files))} in all, at {sources.tut2018_url}/<filename> "
            f"(names and md5 sums: {table}). Either make that URL reachable (or set "
            f"{KEY}.tut2018_url to a mirror; file:///folder works), or download the zips by "
            f"hand into a folder and set {KEY}.tut2018_dir to it (the extracted "
            f"{TUT_FOLDER}/ folder works too).")


# Zenodo's URLs since its move to InvenioRDM (October 2023): /records/<id>/files/<name>; the
# legacy /record/<id>/... answers with a redirect, one more request per resume, kept only as
# long as Zenodo keeps its redirector.
ZENODO_LEGACY = re.compile(r"^(https?://(?:www\.)?zenodo\.org)/record/(\d+)/")


def file_url(base: str, name: str) -> str:
    """<base>/<name>, a Zenodo URL in its current form."""
    return ZENODO_LEGACY.sub(r"\1/records/\2/", base.rstrip("/") + "/") + name


def _download_tut2018(sources: PaperSources, files: list[RemoteFile], progress: bool) -> list[Path]:
    folder = download_root(sources) / "tut2018"
    check_free_space(folder, _bytes_to_fetch(folder, files), "downloading TUT 2018")
    zips = []
    for i, f in enumerate(files, start=1):
        url = file_url(sources.tut2018_url, f.name)
        print(f"[{i}/{len(files)}] {f.name} ({tqdm.format_sizeof(f.bytes, 'B')})", file=sys.stderr)
        dest = folder / f.name
        if dest.parent != folder:       # read_file_table refused such names; never delete outside
            raise LayoutError(f"{f.name!r}: not a plain file name; refusing to write outside {folder}")
        try:
            zips.append(download(url, dest, md5=f.md5, size=f.bytes,
                                 retry=retry_policy(sources), progress=progress))
        except ChecksumError:
            raise       # the source is reachable; its own message names the file and sums
        except DownloadError as err:
            raise SourceError(f"{err}\n{_tut_hint(sources, files)}") from None
    return zips


def _bytes_to_fetch(folder: Path, files: list[RemoteFile]) -> int:
    """What is left to download: complete files (right size) count 0, partial ones the rest."""
    left = 0
    for f in files:
        done, part = folder / f.name, folder / f"{f.name}.part"
        if done.is_file() and done.stat().st_size == f.bytes:
            continue
        left += f.bytes - (part.stat().st_size if part.is_file() else 0)
    return max(left, 0)


def _unpack(zips: list[Path], files: list[RemoteFile], tmp: Path, progress: bool) -> dict:
    """Extract every zip into tmp and lift TUT_FOLDER/ so that tmp holds the layout."""
    unpacked = 0
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            unpacked += sum(i.file_size for i in zf.infolist())
    check_free_space(tmp, unpacked, "extracting TUT 2018")
    for z in zips:
        safe_extract(z, tmp, progress)
    inner = tmp / TUT_FOLDER
    if inner.is_dir():
        for child in inner.iterdir():
            os.replace(child, tmp / child.name)
        inner.rmdir()
    return {"files": {f.name: {"bytes": f.bytes, "md5": f.md5} for f in files}}


def _import_tut2018(folder: Path, files: list[RemoteFile], sources: PaperSources, tmp: Path,
                    progress: bool) -> dict:
    if not folder.is_dir():
        raise SourceError(f"{KEY}.tut2018_dir = {folder}: no such folder.\n{_tut_hint(sources, files)}")
    zips = [folder / f.name for f in files]
    if any(z.is_file() for z in zips):
        _verify_local_zips(folder, files, sources)
        return {"source": str(folder), **_unpack(zips, files, tmp, progress)}
    root = next((r for r in (folder, folder / TUT_FOLDER) if (r / "meta.csv").is_file()), None)
    if root is None:
        raise SourceError(f"{KEY}.tut2018_dir = {folder}: holds neither the zips "
                          f"({files[0].name}, ...) nor an extracted data set ({', '.join(TUT_LAYOUT)} "
                          f"here or in {TUT_FOLDER}/).\n{_tut_hint(sources, files)}")
    validate_tut2018(root)
    modes = set()
    for name in TUT_LAYOUT:
        modes |= _link_tree(root / name, tmp / name)
    return {"source": str(root.resolve()), "linked": sorted(modes)}


def _verify_local_zips(folder: Path, files: list[RemoteFile], sources: PaperSources) -> None:
    missing = [f.name for f in files if not (folder / f.name).is_file()]
    if missing:
        raise SourceError(f"{KEY}.tut2018_dir = {folder}: {len(missing)} of the {len(files)} zips "
                          f"are missing: {', '.join(missing)}. Download them from "
                          f"{sources.tut2018_url}/<filename>, or set {KEY}.tut2018_dir: null "
                          f"to download everything into {download_root(sources)}.")
    print(f"verifying {len(files)} zips in {folder} (md5)", file=sys.stderr)
    for f in files:
        path = folder / f.name
        if not is_verified(path, f.md5, f.bytes):
            raise SourceError(f"{path}: expected {f.bytes} bytes with md5 {f.md5}, got "
                              f"{path.stat().st_size} bytes with md5 {file_digest(path)}; "
                              f"download it again from {sources.tut2018_url}/{f.name}")


def _link_tree(src: Path, dst: Path) -> set[str]:
    """Link a file or every file of a folder; return the kinds of link made."""
    if src.is_file():
        return {link_file(src, dst)}
    modes = set()
    for dirpath, _, names in os.walk(src):
        for name in names:
            rel = Path(dirpath, name).relative_to(src)
            modes.add(link_file(src / rel, dst / rel))
    return modes

