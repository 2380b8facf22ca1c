"""Acquire the paper's data: TUT Urban Acoustic Scenes 2018 (development) and AudioSet.

Both end in the layouts that `tut2018.read_tut2018` and `audioset.read_audioset` read, the
layouts the synthetic world writes, so nothing downstream knows which world it runs on.
Downloads are kept in `sources.download_dir` between runs (DVC deletes a stage's outputs
before running it; the zips must not go with them). Large local data is hard-linked into
the output, or symlinked across filesystems, never copied.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from ..config import PaperSources
from ..io import atomic_dir, write_json
from ..progress import bar as progress_bar
from .audioset import (AUDIO_SUFFIXES, CLASS_TABLE, SPLITS, STATUSES, Availability, Segment,
                       check_splits, read_audioset, read_class_labels, read_segments_csv,
                       write_availability)
from .download import (ChecksumError, DownloadError, Retry, check_free_space, download,
                       file_digest, is_verified, link_file, safe_extract)
from .tut2018 import LayoutError, SceneDataset, read_tut2018

KEY = "worlds.paper.source"
FILE_TABLE = "tut2018_development_files.tsv"
TUT_FOLDER = "TUT-urban-acoustic-scenes-2018-development"
TUT_LAYOUT = ("audio", "meta.csv", "evaluation_setup")
MANIFEST = "manifest.json"
ONTOLOGY = "ontology.json"
PANNS_SAMPLE_RATE = 32000
YTDLP_TIMEOUT = 300          # seconds for one clip; a hung fetch must not stall the rest


class SourceError(RuntimeError):
    """The data is not where the params say; the message says what to fetch or to set."""


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
        source, text = str(path), Path(path).read_text()
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    if not rows or rows[0] != ["filename", "bytes", "md5"]:
        raise LayoutError(f"{source}: header must be filename<TAB>bytes<TAB>md5")
    files = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 3 or not row[1].isdigit() or len(row[2]) != 32:
            raise LayoutError(f"{source}:{lineno}: expected filename, bytes, 32-digit md5; got {row!r}")
        files.append(RemoteFile(row[0], int(row[1]), row[2].lower()))
    return files


def retry_policy(sources: PaperSources) -> Retry:
    return Retry(attempts=sources.download_attempts, backoff=sources.download_backoff_seconds)


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


# ============================================================================ TUT 2018

def acquire_tut2018(sources: PaperSources, out: str | Path, progress: bool = True) -> SceneDataset:
    """Bring the TUT 2018 development set into `out` (the tut2018 layout) and validate it.

    From `sources.tut2018_dir` (the zips, or the extracted data set) when set, else from
    `sources.tut2018_url` through `sources.download_dir`. `out` appears only when complete.
    """
    files = read_file_table(sources.tut2018_files)
    out = Path(out)
    with atomic_dir(out) as tmp:
        if sources.tut2018_dir:
            record = _import_tut2018(Path(sources.tut2018_dir), files, sources, tmp, progress)
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


def _download_tut2018(sources: PaperSources, files: list[RemoteFile], progress: bool) -> list[Path]:
    folder = Path(sources.download_dir) / "tut2018"
    check_free_space(folder, _bytes_to_fetch(folder, files), "downloading TUT 2018")
    zips = []
    for i, f in enumerate(files, start=1):
        url = f"{sources.tut2018_url.rstrip('/')}/{f.name}"
        print(f"[{i}/{len(files)}] {f.name} ({tqdm.format_sizeof(f.bytes, 'B')})", file=sys.stderr)
        try:
            zips.append(download(url, folder / f.name, md5=f.md5, size=f.bytes,
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
                          f"to download everything into {sources.download_dir}.")
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


# ============================================================================= AudioSet

@dataclass(frozen=True)
class ClipSources:
    """Where clip audio comes from, checked before any download starts."""
    folders: tuple[Path, ...]          # searched in order: the user's clips, then yt-dlp's
    hdf5_packs: tuple[Path, ...]
    ytdlp_tools: dict | None           # {"yt-dlp": path, "ffmpeg": path} when fetching


def acquire_audioset(sources: PaperSources, out: str | Path,
                     progress: bool = True) -> dict[str, dict[str, int]]:
    """Bring AudioSet into `out` (the audioset layout); return clip counts per split and status.

    The segment CSVs, class table and ontology are downloaded (their sha256 recorded in
    manifest.json, as no checksums are published) and parsed. The clips of balanced_train
    (the ranking pool) and eval are gathered; those of unbalanced_train are left `pending`
    for make_subsets, which fetches only the ones its subsets need (fetch_clips). Every clip
    gets a row in availability.csv: present, missing, corrupt or pending. Missing clips are
    normal.
    """
    clip_sources = _clip_sources(sources)
    tables = _download_tables(sources, progress)
    out = Path(out)
    with atomic_dir(out) as tmp:
        for name, (path, _) in tables.items():
            shutil.copyfile(path, tmp / name)
        segments = {split: read_segments_csv(tmp / name) for split, name in SPLITS.items()}
        # labels and splits checked before any clip is gathered, not after hours of it
        check_splits(segments, read_class_labels(tmp / CLASS_TABLE), tmp)
        wanted = {s.ytid: s for split in NOW for s in segments[split]}
        (tmp / "audio").mkdir()
        present, corrupt, links = _gather_clips(wanted, clip_sources, sources, tmp / "audio", progress)
        rows = [Availability(s.ytid, split, _status(s.ytid, present, corrupt) if split in NOW else "pending",
                             present.get(s.ytid, ""))
                for split, segs in segments.items() for s in segs]
        write_availability(tmp, rows)
        counts = _counts(rows)
        write_json(tmp / MANIFEST, {
            "tables": {name: record for name, (_, record) in tables.items()},
            "clips": {"folders": [str(p) for p in clip_sources.folders],
                      "hdf5": [str(p) for p in clip_sources.hdf5_packs],
                      "ytdlp": clip_sources.ytdlp_tools is not None,
                      "linked": sorted(links), "counts": counts}})
        read_audioset(tmp)    # every label must be in the class table
    _print_counts(counts, out)
    return counts


# The splits acquired before the ranking; unbalanced_train's clips are fetched by make_subsets.
NOW = ("balanced_train", "eval")


def fetch_clips(sources: PaperSources, segments: list[Segment], audio: Path,
                progress: bool = True) -> tuple[dict[str, str], set[str]]:
    """Gather these clips into the folder `audio` from the configured sources: (ytid -> path
    "audio/<file>" relative to the folder above `audio`, ytids that are missing or corrupt)."""
    audio = Path(audio)
    audio.mkdir(parents=True, exist_ok=True)
    present, _, _ = _gather_clips({s.ytid: s for s in segments}, _clip_sources(sources), sources,
                                  audio, progress)
    return present, {s.ytid for s in segments} - set(present)


def _status(ytid: str, present: dict, corrupt: set) -> str:
    return "present" if ytid in present else "corrupt" if ytid in corrupt else "missing"


def _counts(rows: list[Availability]) -> dict[str, dict[str, int]]:
    counts = {split: dict.fromkeys(STATUSES, 0) for split in SPLITS}
    for r in rows:
        counts[r.split][r.status] += 1
    return counts


def _print_counts(counts: dict[str, dict[str, int]], out: Path) -> None:
    print(f"AudioSet clips in {out} (details: {out / 'availability.csv'})")
    print(f"  {'split':<18}" + "".join(f"{s:>10}" for s in STATUSES))
    for split, c in counts.items():
        print(f"  {split:<18}" + "".join(f"{c[s]:>10}" for s in STATUSES))
        if not c["present"] and not c["pending"]:
            print(f"  warning: no clip of {split} is present", file=sys.stderr)


# ---------------------------------------------------------------------- tables (CSVs)

def _table_urls(sources: PaperSources) -> dict[str, str]:
    base = sources.audioset_csv_url.rstrip("/")
    urls = {name: f"{base}/{name}" for name in (*SPLITS.values(), CLASS_TABLE)}
    urls[ONTOLOGY] = sources.audioset_ontology_url
    return urls


def _download_tables(sources: PaperSources, progress: bool) -> dict[str, tuple[Path, dict]]:
    """Download and parse the CSVs and the ontology; name -> (path, manifest record)."""
    folder = Path(sources.download_dir) / "audioset"
    tables = {}
    for name, url in _table_urls(sources).items():
        try:
            path = download(url, folder / name, retry=retry_policy(sources), progress=progress)
        except DownloadError as err:
            key = "audioset_ontology_url" if name == ONTOLOGY else "audioset_csv_url"
            raise SourceError(f"{err}\nAudioSet's {name} could not be fetched. Set {KEY}.{key} "
                              f"to a reachable copy (file:///folder works for files downloaded "
                              f"by hand).") from None
        _check_table(name, path, url)
        tables[name] = (path, {"url": url, "bytes": path.stat().st_size,
                               "sha256": file_digest(path, "sha256")})
    return tables


def _check_table(name: str, path: Path, url: str) -> None:
    """Parse a downloaded table; a bad one names its line, its URL, and how to refetch."""
    try:
        if name == CLASS_TABLE:
            read_class_labels(path)
        elif name == ONTOLOGY:
            _check_ontology(path)
        else:
            read_segments_csv(path)
    except LayoutError as err:
        path.unlink()        # never reused: the next run fetches it again
        raise LayoutError(f"{err}\n(downloaded from {url}; deleted, the next run fetches it again)") from None


def _check_ontology(path: Path) -> None:
    try:
        nodes = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LayoutError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and "id" in n for n in nodes):
        raise LayoutError(f"{path}: expected a JSON list of classes, each with an 'id'")


# ---------------------------------------------------------------------------- clips

def _clip_sources(sources: PaperSources) -> ClipSources:
    """Check the clip sources the params name (before hours of downloads, not after)."""
    if not (sources.audioset_clips_dir or sources.audioset_hdf5 or sources.ytdlp):
        raise SourceError(
            f"AudioSet clips: no source set. Set {KEY}.audioset_clips_dir to a folder of clips "
            f"named <YouTube id>.wav|.flac (or Y<id>.wav, in subfolders or not), or "
            f"{KEY}.audioset_hdf5 to PANNs-style HDF5 packs (a .h5 file or a folder of them), "
            f"or {KEY}.ytdlp: true to fetch each clip with yt-dlp + ffmpeg (slow). The segment "
            f"lists come from {sources.audioset_csv_url}.")
    folders = []
    if sources.audioset_clips_dir:
        folder = Path(sources.audioset_clips_dir)
        if not folder.is_dir():
            raise SourceError(f"{KEY}.audioset_clips_dir = {folder}: no such folder")
        folders.append(folder)
    packs = hdf5_packs(sources.audioset_hdf5) if sources.audioset_hdf5 else []
    if packs:
        require_h5py()
    tools = None
    if sources.ytdlp:
        tools = require_ytdlp()
        folders.append(ytdlp_folder(sources))
    return ClipSources(tuple(folders), tuple(packs), tools)


def clip_ytid(stem: str) -> str:
    """YouTube ids have 11 characters; PANNs prefixes them with 'Y'."""
    return stem[1:] if len(stem) == 12 and stem.startswith("Y") else stem


def index_clips(folder: Path) -> dict[str, list[Path]]:
    """ytid -> its audio files, over the folder and its subfolders, in sorted order (the
    first readable one is taken)."""
    found = {}
    for dirpath, dirnames, names in os.walk(folder):
        dirnames.sort()
        for name in sorted(names):
            path = Path(dirpath, name)
            if path.suffix.lower() in AUDIO_SUFFIXES:
                found.setdefault(clip_ytid(path.stem), []).append(path)
    return found


def is_readable(path: Path) -> bool:
    """soundfile opens it and it has at least one frame."""
    try:
        with sf.SoundFile(path) as f:
            return f.frames > 0
    except (RuntimeError, OSError):     # sf.LibsndfileError is a RuntimeError
        return False


def _gather_clips(wanted: dict[str, Segment], clip_sources: ClipSources, sources: PaperSources,
                  audio: Path, progress: bool) -> tuple[dict[str, str], set[str], set[str]]:
    """Fill `audio` from each source in turn, each trying the clips still not present.

    Returns (ytid -> path relative to the data set root, corrupt ytids, kinds of link made).
    """
    present, corrupt, links = {}, set(), set()

    def take(found: dict[str, list[Path]]) -> None:
        """Each clip's first readable candidate; a clip with none is corrupt."""
        paths = [p for candidates in found.values() for p in candidates]
        with ThreadPoolExecutor(max_workers=8) as pool:
            ok = dict(zip(paths, progress_bar(pool.map(is_readable, paths), total=len(paths),
                                      desc="check clips", disable=not progress, leave=False)))
        for ytid, candidates in found.items():
            good = next((p for p in candidates if ok[p]), None)
            for p in candidates:
                if p is not good and p.parent == audio:
                    p.unlink()                  # a bad copy written here (HDF5, yt-dlp)
            if good is None:
                corrupt.add(ytid)
                continue
            name = f"{ytid}{good.suffix.lower()}"
            if good.parent != audio:
                links.add(link_file(good, audio / name))
            present[ytid] = f"audio/{name}"
            corrupt.discard(ytid)

    def still_wanted() -> set[str]:
        return set(wanted) - set(present)

    for folder in clip_sources.folders:
        left = still_wanted()
        take({y: p for y, p in index_clips(folder).items() if y in left})
    if clip_sources.hdf5_packs:
        take({y: [p] for y, p in write_from_hdf5(clip_sources.hdf5_packs, still_wanted(), audio,
                                                 progress).items()})
    if clip_sources.ytdlp_tools:
        todo = [wanted[y] for y in sorted(still_wanted())]
        take({y: [p] for y, p in fetch_with_ytdlp(todo, ytdlp_folder(sources), clip_sources.ytdlp_tools,
                                                  sources.ytdlp_interval_seconds, progress).items()})
    return present, corrupt, links


# ---------------------------------------------------------------------------- HDF5

def hdf5_packs(location: str) -> list[Path]:
    path = Path(location)
    if path.is_file():
        return [path]
    packs = sorted(p for p in path.rglob("*") if p.suffix in (".h5", ".hdf5")) if path.is_dir() else []
    if not packs:
        raise SourceError(f"{KEY}.audioset_hdf5 = {location}: no .h5/.hdf5 file there")
    return packs


def require_h5py():
    try:
        import h5py
    except ImportError:
        raise SourceError(f"{KEY}.audioset_hdf5 needs h5py: pip install -e .[hdf5]") from None
    return h5py


def write_from_hdf5(packs: tuple[Path, ...], wanted: set[str], audio: Path,
                    progress: bool) -> dict[str, Path]:
    """Write the wanted clips of PANNs packs (audio_name, waveform int16 at 32 kHz) as WAV."""
    h5py = require_h5py()
    written = {}
    for pack in packs:
        with h5py.File(pack, "r") as f:
            for key in ("audio_name", "waveform"):
                if key not in f:
                    raise SourceError(f"{pack}: no dataset '{key}' (a PANNs pack holds "
                                      f"audio_name, waveform, target)")
            names = [clip_ytid(Path(n.decode()).stem) for n in f["audio_name"][:]]
            for i, ytid in enumerate(progress_bar(names, desc=pack.name, disable=not progress, leave=False)):
                if ytid in wanted and ytid not in written:
                    path = audio / f"{ytid}.wav"
                    sf.write(path, f["waveform"][i], PANNS_SAMPLE_RATE, subtype="PCM_16")
                    written[ytid] = path
    return written


# --------------------------------------------------------------------------- yt-dlp

def ytdlp_folder(sources: PaperSources) -> Path:
    """Fetched clips live with the downloads, so a rerun does not fetch them again."""
    return Path(sources.download_dir) / "audioset" / "clips"


def require_ytdlp() -> dict[str, str]:
    tools = {name: shutil.which(name) for name in ("yt-dlp", "ffmpeg")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        raise SourceError(f"{KEY}.ytdlp is true, but {' and '.join(missing)} not found on PATH. "
                          f"Install them (pip install yt-dlp; ffmpeg from your package manager), "
                          f"or set {KEY}.ytdlp: false and point {KEY}.audioset_clips_dir or "
                          f"{KEY}.audioset_hdf5 at clips you have.")
    return tools


def ytdlp_command(segment: Segment, folder: Path, tools: dict[str, str]) -> list[str]:
    """Fetch only the segment's seconds, as 32 kHz mono 16-bit WAV named <ytid>.wav."""
    return [tools["yt-dlp"], "--quiet", "--no-warnings", "--no-playlist", "--force-overwrites",
            "--format", "bestaudio/best",
            "--download-sections", f"*{segment.start:g}-{segment.end:g}",
            "--force-keyframes-at-cuts",
            "--extract-audio", "--audio-format", "wav",
            "--postprocessor-args", f"ExtractAudio:-ar {PANNS_SAMPLE_RATE} -ac 1",
            "--ffmpeg-location", tools["ffmpeg"],
            "--output", str(folder / f"{segment.ytid}.%(ext)s"),
            f"https://www.youtube.com/watch?v={segment.ytid}"]


def fetch_with_ytdlp(segments: list[Segment], folder: Path, tools: dict[str, str],
                     interval: float, progress: bool) -> dict[str, Path]:
    """Fetch clips one at a time, at most one start per `interval` seconds (YouTube answers
    floods with HTTP 429). A failed fetch leaves the clip missing; it is never fatal."""
    folder.mkdir(parents=True, exist_ok=True)
    fetched, last = {}, -math.inf
    for segment in progress_bar(segments, desc="yt-dlp", disable=not progress):
        time.sleep(max(0.0, last + interval - time.monotonic()))
        last = time.monotonic()
        try:
            subprocess.run(ytdlp_command(segment, folder, tools), capture_output=True,
                           timeout=YTDLP_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            continue
        path = folder / f"{segment.ytid}.wav"
        if path.is_file():
            fetched[segment.ytid] = path
    return fetched
