"""Acquire AudioSet: its segment lists, class table and ontology, and the clips of each
segment from the configured clip sources (local folders, PANNs HDF5 packs, a Hugging Face
mirror, yt-dlp), each clip checked before it is taken.

Tables and fetched clips are kept in `sources.download_dir` between runs; local clips are
linked into the output, never copied (see `source` for what both acquisitions share).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from aetasc.data.audio import BAD_RATE, AudioError, read_audio
from aetasc.config import PaperSources
from aetasc.io import atomic_dir, partial_path, write_json
from aetasc.progress import bar as progress_bar
from aetasc.data.audioset import (CLASS_TABLE, SPLITS, STATUSES, Availability, Segment, check_splits,
                                  read_audioset, read_class_labels, read_segments_csv, write_availability)
from aetasc.data import ytdlp
from aetasc.data.clip_names import ClipName, parse_clip_name
from aetasc.data.panns_hdf5 import hdf5_packs, require_h5py, write_from_hdf5
from aetasc.data.download import DownloadError, download, file_digest, link_file
from aetasc.data.hf_mirror import (Mirror, MirrorError, MirrorIndex, load_index, open_mirror, plan_lines,
                                   write_clips)
from aetasc.data.hf_cache import clips_folder, index_path, remove_old_layouts
from aetasc.data.source import KEY, MANIFEST, SourceError, download_root, retry_policy
from aetasc.data.tut2018 import LayoutError

ONTOLOGY = "ontology.json"


@dataclass(frozen=True)
class ClipSources:
    """Where clip audio comes from, checked before any download starts."""
    folders: tuple[Path, ...]          # the user's clips, searched in order
    hdf5_packs: tuple[Path, ...]
    mirror: Mirror | None              # a Hugging Face mirror's parquet shards
    ytdlp_tools: ytdlp.Tools | None    # when fetching from YouTube
    min_sample_rate: float             # below it a clip cannot carry the front end's fmax


def acquire_audioset(sources: PaperSources, out: str | Path, progress: bool = True,
                     min_sample_rate: float = 0.0) -> dict[str, dict[str, int]]:
    """Bring AudioSet into `out` (the audioset layout); return clip counts per split and status.

    The segment CSVs, class table and ontology are downloaded (their sha256 recorded in
    manifest.json, as no checksums are published) and parsed. The clips of balanced_train
    (the ranking pool) and eval are gathered; those of unbalanced_train are left `pending`
    for make_subsets, which fetches only the ones its subsets need (fetch_clips). Every clip
    gets a row in availability.csv: present, missing or corrupt (with the reason). Missing
    clips are normal; a clip that could not be fetched *now* (a rate limit, a timeout) stops
    the stage instead, so that which clips the pool holds does not depend on when it ran.
    A clip sampled below `min_sample_rate` (the stage passes PaperWorld.min_sample_rate)
    stops it too, naming the clip, its rate and the key.
    """
    clip_sources = _clip_sources(sources, min_sample_rate)
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
        present, failed, links = _gather_clips(wanted, clip_sources, sources, tmp / "audio", progress)
        _stop_if_pending(failed, "acquire_aet")
        rows = [Availability(s.ytid, split, "present", present[s.ytid]) if s.ytid in present else
                Availability(s.ytid, split, *failed[s.ytid]) if split in NOW else
                Availability(s.ytid, split, "pending", "")
                for split, segs in segments.items() for s in segs]
        write_availability(tmp, rows)
        counts = _counts(rows)
        write_json(tmp / MANIFEST, {
            "tables": {name: record for name, (_, record) in tables.items()},
            "clips": {"folders": [str(p) for p in clip_sources.folders],
                      "hdf5": [str(p) for p in clip_sources.hdf5_packs],
                      "mirror": clip_sources.mirror.name if clip_sources.mirror else None,
                      "ytdlp": clip_sources.ytdlp_tools is not None,
                      "min_sample_rate": min_sample_rate,
                      "linked": sorted(links), "counts": counts}})
        read_audioset(tmp)    # every label must be in the class table
    _print_counts(counts, out)
    return counts


# The splits acquired before the ranking; unbalanced_train's clips are fetched by make_subsets.
NOW = ("balanced_train", "eval")


def fetch_clips(sources: PaperSources, segments: list[Segment], audio: Path, progress: bool = True,
                min_sample_rate: float = 0.0) -> tuple[dict[str, str], dict[str, tuple[str, str, str]]]:
    """Gather these clips into the folder `audio` from the configured sources: (ytid -> path
    "audio/<file>" relative to the folder above `audio`, ytid -> (status, "", reason) of each
    clip missing or corrupt). A clip that could not be fetched now stops it (SourceError):
    it is retried by the next run, never replaced."""
    audio = Path(audio)
    audio.mkdir(parents=True, exist_ok=True)
    present, failed, _ = _gather_clips({s.ytid: s for s in segments}, _clip_sources(sources, min_sample_rate),
                                       sources, audio, progress)
    _stop_if_pending(failed, "make_subsets")
    return present, failed


def _stop_if_pending(failed: dict[str, tuple[str, str, str]], stage: str) -> None:
    pending = {y: reason for y, (status, _, reason) in failed.items() if status == "pending"}
    if pending:
        common = "; ".join(f"{n} x {r!r}" for r, n in Counter(pending.values()).most_common(3))
        raise SourceError(f"{len(pending)} clips could not be fetched now ({common}); they are not "
                          f"marked missing and nothing was replaced. Run {stage} again later: the "
                          f"clips fetched so far are kept and not fetched again")


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
    folder = download_root(sources) / "audioset"
    tables, parsed = {}, {}
    for name, url in _table_urls(sources).items():      # the class table after the segment lists
        existed = (folder / name).is_file()
        try:
            # a table's server may send no length: it is parsed before it gets its final name
            path = download(url, folder / name, retry=retry_policy(sources), progress=progress,
                            check=lambda part, name=name, url=url: _check_table(name, part, url, parsed))
        except DownloadError as err:
            key = "audioset_ontology_url" if name == ONTOLOGY else "audioset_csv_url"
            raise SourceError(f"{err}\nAudioSet's {name} could not be fetched. Set {KEY}.{key} "
                              f"to a reachable copy (file:///folder works for files downloaded "
                              f"by hand).") from None
        if existed:
            _check_table(name, path, url, parsed)
        tables[name] = (path, {"url": url, "bytes": path.stat().st_size,
                               "sha256": file_digest(path, "sha256")})
    return tables


def _check_table(name: str, path: Path, url: str, parsed: dict) -> None:
    """Parse a downloaded table; a bad one names its line, its URL, and how to refetch. The
    class table must hold every label of the segment lists parsed before it (`parsed`, split
    -> segments): one cut short at a line break parses, and only this tells."""
    split = {file: split for split, file in SPLITS.items()}.get(name)
    try:
        if name == CLASS_TABLE:
            check_splits(parsed, read_class_labels(path), path.parent)
        elif name == ONTOLOGY:
            _check_ontology(path)
        else:
            parsed[split] = read_segments_csv(path)
    except LayoutError as err:
        path.unlink(missing_ok=True)        # never reused: the next run fetches it again
        hint = " (cut short in transfer?)" if name == CLASS_TABLE else ""
        said = str(err).replace(str(path), str(path.with_name(name)))    # the table, not its .part
        raise LayoutError(f"{said}{hint}\n(downloaded from {url}; deleted, the next run fetches it "
                          f"again)") from None


def _check_ontology(path: Path) -> None:
    try:
        nodes = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LayoutError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and "id" in n for n in nodes):
        raise LayoutError(f"{path}: expected a JSON list of classes, each with an 'id'")


# ---------------------------------------------------------------------------- clips

def _clip_sources(sources: PaperSources, min_sample_rate: float) -> ClipSources:
    """Check the clip sources the params name (before hours of downloads, not after)."""
    if not (sources.audioset_clips_dir or sources.audioset_hdf5 or sources.audioset_hf or sources.ytdlp):
        raise SourceError(
            f"AudioSet clips: no source set. Set {KEY}.audioset_hf to a Hugging Face mirror "
            f"(agkphysics/AudioSet, with {KEY}.audioset_hf_revision; or a folder of its parquet "
            f"shards), {KEY}.audioset_clips_dir to a folder of clips (<YouTube id>.wav|.flac|..., "
            f"Y<id>.wav, Y<id>_<start>_<end>.wav, <id>_<start>.flac, in subfolders or not), "
            f"{KEY}.audioset_hdf5 to PANNs-style HDF5 packs (a .h5 file or a folder of them), "
            f"or {KEY}.ytdlp: true to fetch each clip with yt-dlp + ffmpeg (~300 clips an hour). "
            f"The segment lists come from {sources.audioset_csv_url}.")
    folders = []
    if sources.audioset_clips_dir:
        folder = Path(sources.audioset_clips_dir).expanduser()
        if not folder.is_dir():
            raise SourceError(f"{KEY}.audioset_clips_dir = {folder}: no such folder")
        folders.append(folder)
    packs = hdf5_packs(sources.audioset_hdf5) if sources.audioset_hdf5 else []
    if packs:
        require_h5py()
    mirror = None
    if sources.audioset_hf:
        try:
            mirror = open_mirror(sources.audioset_hf, sources.audioset_hf_revision, f"{KEY}.audioset_hf")
        except MirrorError as err:
            raise SourceError(str(err)) from None
    tools = None
    if sources.ytdlp:
        if ytdlp.SAMPLE_RATE < min_sample_rate:
            raise SourceError(f"{KEY}.ytdlp: yt-dlp writes clips at {ytdlp.SAMPLE_RATE} Hz, below {min_sample_rate:g} "
                              f"Hz = 2 x the front end's fmax (worlds.paper.features.fmax), so every clip it "
                              f"fetched would be refused: use another source, or set {KEY}.min_sample_rate to "
                              f"{ytdlp.SAMPLE_RATE} to accept it on purpose")
        try:
            tools = ytdlp.require_ytdlp(KEY)
        except ytdlp.YtdlpError as err:
            raise SourceError(str(err)) from None
    return ClipSources(tuple(folders), tuple(packs), mirror, tools, min_sample_rate)


# What clip collections hold: WAV and FLAC, and what yt-dlp and encoders write (libsndfile
# reads Ogg Vorbis/Opus and MP3; M4A/AAC and WebM need ffmpeg).
CLIP_SUFFIXES = (".wav", ".flac", ".opus", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".webm")


def index_clips(folder: Path) -> dict[str, list[tuple[Path, ClipName]]]:
    """ytid -> its audio files (and what their names state), over the folder and its
    subfolders, in sorted order (the first usable one is taken)."""
    found = {}
    for dirpath, dirnames, names in os.walk(folder):
        dirnames.sort()
        for name in sorted(names):
            path = Path(dirpath, name)
            parsed = parse_clip_name(path.stem) if path.suffix.lower() in CLIP_SUFFIXES else None
            if parsed is not None:
                found.setdefault(parsed.ytid, []).append((path, parsed))
    return found


class LowRate(SourceError):
    """A clip sampled below min_sample_rate: the source cannot carry the front end."""

    def __init__(self, message: str, ytid: str, rate: int):
        super().__init__(message)
        self.ytid, self.rate = ytid, rate


def clip_problem(path: Path, segment: Segment, min_sample_rate: float, check_length: bool = True,
                 source: str | None = None, logged: bool = False) -> str | None:
    """None if the file can be this segment's clip, else why not. Every clip, whatever its
    source and whatever its suffix says, is decoded whole and must last the segment's
    end - start (within LENGTH_TOLERANCE_S) at a sane rate: the one check yt-dlp clips got
    first (`check_length` is kept for callers; the length is always checked).

    A rate below min_sample_rate raises LowRate naming the clip and `source` (a source at
    that rate cannot carry the front end); with `logged` (a work file about to go, as
    yt-dlp's, whose outcome is logged) it is returned as a problem instead, naming no file."""
    try:
        _, rate = read_audio(path, expected_seconds=segment.seconds)
    except AudioError as err:
        return f"{err.reason}: {err.detail}" if err.detail else err.reason
    if rate < min_sample_rate:
        if logged:
            return (f"{BAD_RATE}: {rate} Hz, below {min_sample_rate:g} Hz = {KEY}.min_sample_rate"
                    + (f" ({source})" if source else ""))
        origin = f"; from {source}" if source else ""
        raise LowRate(f"{path}: clip {segment.ytid} is sampled at {rate} Hz, below {min_sample_rate:g} Hz = 2 x "
                      f"the front end's fmax (worlds.paper.features.fmax): its upper mel bands would be "
                      f"empty{origin}. Use a source at a higher rate, or set {KEY}.min_sample_rate to "
                      f"{rate} to accept it on purpose", segment.ytid, rate)
    return None


def _low_rate_error(low: list[LowRate]) -> SourceError:
    """One error for every clip of a batch below the rate (the first few named in full)."""
    lines = [str(e) for e in low[:3]]
    if len(low) > 3:
        lines.append(f"... and {len(low) - 3} more clips below the rate (lowest {min(e.rate for e in low)} Hz)")
    head = f"{len(low)} clips are sampled below {KEY}.min_sample_rate:\n" if len(low) > 1 else ""
    return SourceError(head + "\n".join(lines))


def _kept_as_is(path: Path) -> bool:
    """A WAV or FLAC by its content, under its own suffix: linked as it is; anything else
    (Ogg, MP3, a .flac that holds Ogg) is decoded into FLAC."""
    try:
        fmt = sf.info(path).format
    except (RuntimeError, OSError):
        return False
    return (path.suffix.lower(), fmt) in ((".wav", "WAV"), (".wav", "WAVEX"), (".flac", "FLAC"))


def _take_as_flac(path: Path, segment: Segment, dest: Path) -> None:
    """A clip in a format whose header does not state its length, decoded (already checked
    against its segment) and written as FLAC, so that everything downstream reads a format
    whose length it can check."""
    data, sr = read_audio(path, expected_seconds=segment.seconds)
    tmp = partial_path(dest)
    try:
        sf.write(tmp, np.clip(data, -1.0, 1.0 - 2.0 ** -15), sr, format="FLAC", subtype="PCM_16")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _gather_clips(wanted: dict[str, Segment], clip_sources: ClipSources, sources: PaperSources,
                  audio: Path, progress: bool) -> tuple[dict[str, str], dict[str, tuple[str, str, str]], set[str]]:
    """Fill `audio` from each source in turn, each trying the clips still not present.

    Returns (ytid -> path relative to the data set root, ytid -> (status, "", reason) of each
    clip not present: missing, corrupt, or pending when it could not be fetched now, kinds
    of link made).
    """
    present, failed, links = {}, {}, set()

    def take(found: dict[str, list[Path]], source: str) -> None:
        """Each clip's first usable candidate; a clip with none is corrupt. Clips below the
        rate stop it once the whole batch is checked, each named with `source`."""
        pairs = [(p, wanted[y]) for y, candidates in found.items() for p in candidates]

        def check(ps):
            try:
                return clip_problem(ps[0], ps[1], clip_sources.min_sample_rate, source=source)
            except LowRate as err:
                return err
        with ThreadPoolExecutor(max_workers=8) as pool:
            problems = dict(zip((p for p, _ in pairs), progress_bar(
                pool.map(check, pairs), total=len(pairs), desc="check clips", disable=not progress, leave=False)))
        low = [e for e in problems.values() if isinstance(e, LowRate)]
        if low:
            raise _low_rate_error(low)
        for ytid, candidates in found.items():
            good = next((p for p in candidates if problems[p] is None), None)
            for p in candidates:
                if p is not good and p.parent == audio:
                    p.unlink()                  # a bad copy written here (HDF5)
            if good is None:
                failed[ytid] = ("corrupt", "", f"{candidates[0].name}: {problems[candidates[0]]}")
                continue
            if _kept_as_is(good):
                name = f"{ytid}{good.suffix.lower()}"
                if good.parent != audio:
                    links.add(link_file(good, audio / name))
            else:
                name = f"{ytid}.flac"
                _take_as_flac(good, wanted[ytid], audio / name)
                links.add("decoded to FLAC")
            present[ytid] = f"audio/{name}"
            failed.pop(ytid, None)

    def still_wanted() -> set[str]:
        return set(wanted) - set(present)

    for folder in clip_sources.folders:
        left = still_wanted()
        # a name stating another start is another segment of the same video
        found = {y: [p for p, name in c if name.is_segment(wanted[y])]
                 for y, c in index_clips(folder).items() if y in left}
        take({y: c for y, c in found.items() if c}, f"{KEY}.audioset_clips_dir = {folder}")
    if clip_sources.hdf5_packs:
        left = still_wanted()
        take({y: [p] for y, p in write_from_hdf5(clip_sources.hdf5_packs, {y: wanted[y] for y in left}, audio,
                                                 progress).items()}, f"{KEY}.audioset_hdf5")
    if clip_sources.mirror:
        mirror = clip_sources.mirror
        try:
            remove_old_layouts(download_root(sources))
            index = load_index(mirror, index_path(download_root(sources), mirror), progress)
            left = still_wanted()
            print("\n".join(plan_lines(mirror.name, index.plan(_by_split(left, wanted, index)))), file=sys.stderr)
            empty: dict[str, str] = {}
            written = write_clips(mirror, index, left, clips_folder(download_root(sources), mirror), progress,
                                  empty=empty)
        except MirrorError as err:
            raise SourceError(f"{err} ({KEY}.audioset_hf)") from None
        take({y: [p] for y, p in written.items()}, f"the mirror {mirror.name} ({KEY}.audioset_hf)")
        for y, shard in empty.items():
            if y not in present:
                failed[y] = ("corrupt", "", f"the mirror {mirror.name} holds no audio bytes for it "
                                            f"(null in {shard})")
        for y in still_wanted() - set(failed):
            if y not in index.where:
                failed[y] = ("missing", "", f"not in the mirror {mirror.name}")
    if clip_sources.ytdlp_tools:
        todo = [wanted[y] for y in sorted(still_wanted())]
        pacer = ytdlp.Pacer(sources.ytdlp_interval_seconds, sources.ytdlp_max_per_hour)

        def check(path: Path, segment: Segment) -> str | None:
            # a work file, deleted after: a low rate is logged with the outcome, not raised
            return clip_problem(path, segment, clip_sources.min_sample_rate, source="yt-dlp", logged=True)
        try:
            outcomes = ytdlp.fetch_with_ytdlp(todo, ytdlp_folder(sources), clip_sources.ytdlp_tools, pacer,
                                              sources.ytdlp_cookies, check, progress=progress)
        except ytdlp.YtdlpError as err:
            raise SourceError(str(err)) from None
        take({y: [o.path] for y, o in outcomes.items() if o.status == "present"}, "yt-dlp")
        for y, o in outcomes.items():
            if o.status != "present":
                exit_status = "killed at the timeout" if o.exit is None else f"exit {o.exit}"
                failed[y] = (o.status, "", f"yt-dlp {exit_status}: {o.reason}")
    for y in still_wanted():
        failed.setdefault(y, ("missing", "", "in no clip source"))
    return present, failed, links


def _by_split(ytids: set[str], wanted: dict[str, Segment], index: MirrorIndex) -> dict[str, set[str]]:
    """The wanted clips per split of the mirror (a clip it lacks counts under its own split)."""
    out: dict[str, set[str]] = {}
    for y in ytids:
        split = index.where[y][0] if y in index.where else "unbalanced_train"
        out.setdefault(split, set()).add(y)
    return out


# --------------------------------------------------------------------------- yt-dlp

def ytdlp_folder(sources: PaperSources) -> Path:
    """Fetched clips live with the downloads, so a rerun does not fetch them again."""
    return download_root(sources) / "audioset" / "clips"
