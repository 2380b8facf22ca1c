"""AudioSet clips from a Hugging Face mirror's parquet shards, reading only what is needed.

The mirrors the community uses (e.g. `agkphysics/AudioSet`) hold
`data/{bal_train,unbal_train,eval}/*.parquet` with the columns `video_id` (string), `audio`
(Hugging Face `datasets`' Audio feature, stored as a struct {bytes, path}: FLAC bytes and a
file name), `labels` and `human_labels`. The unbalanced split alone is terabytes, so:

1. an index video_id -> (shard, row group) is built once from the `video_id` column alone
   (parquet stores columns apart: only the footers and the id column chunks are read) and
   kept in `<download_dir>/audioset/hf_index/`, one file per source and revision;
2. the plan says which row groups hold the needed clips and how many bytes they are;
3. only those row groups are read (their id and audio columns), and each needed clip is
   written out as the file the mirror stored.

A repo id is read through huggingface_hub's file system (HTTP range requests) at a pinned
revision, so that a rerun reads the same bytes; a local folder of the shards (a download or
a clone of the repository) is read the same way from disk.
"""
from __future__ import annotations

import csv
import hashlib
import os
import posixpath
import re
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aetasc.io import write_json
from aetasc.errors import AetascError

SPLIT_FOLDERS = {"balanced_train": "bal_train", "unbalanced_train": "unbal_train", "eval": "eval"}
ID_COLUMN, AUDIO_COLUMN = "video_id", "audio"
INDEX_HEADER = ["video_id", "split", "shard", "row_group", "group_rows", "group_bytes"]
COMMIT = re.compile(r"[0-9a-f]{40}")      # whole string: re.fullmatch (a "$" lets "\n" through)
REPO_ID = re.compile(r"[\w.-]{1,96}/[\w.-]{1,96}")    # huggingface_hub's validate_repo_id, owner required


class MirrorError(AetascError, RuntimeError):
    """The mirror is not what the params say; the message names the shard or the key."""


@dataclass(frozen=True)
class Mirror:
    """Parquet shards on a file system (local or the Hub), under `root`/<split folder>/."""
    fs: object          # an fsspec file system
    root: str
    name: str           # for messages and the index's file name: repo@revision, or the folder

    @property
    def local(self) -> bool:
        """A folder on this machine (no Hub, no connection to blame)."""
        from fsspec.implementations.local import LocalFileSystem
        return isinstance(self.fs, LocalFileSystem)

    def shards(self, split: str) -> list[str]:
        """The split's shards, relative to root, in name order."""
        folder = SPLIT_FOLDERS[split]
        return sorted(f"{folder}/{posixpath.basename(p)}" for p in self.fs.glob(f"{self.root}/{folder}/*.parquet"))

    def open(self, shard: str):
        # no read-ahead cache: each read pyarrow makes (the footer, a column chunk) is one
        # range request for exactly those bytes, not a 5 MB block
        return self.fs.open(f"{self.root}/{shard}", "rb", cache_type="none")


def open_mirror(location: str, revision: str | None, key: str, revision_key: str | None = None) -> Mirror:
    """A local folder of the shards (holding bal_train/ ... or data/bal_train/ ...), or a
    dataset repo id at a pinned revision (a 40-digit commit) read through the Hub."""
    folder = Path(location).expanduser()
    if folder.is_dir():
        if revision is not None:
            raise MirrorError(f"{revision_key or key + '_revision'} = {revision!r}, but {key} = {location} is a local "
                              f"folder, which has no revisions: set it to null (the folder is read as it "
                              f"is), or set {key} to the Hugging Face repo id that revision belongs to")
        from fsspec.implementations.local import LocalFileSystem
        root = folder / "data" if (folder / "data").is_dir() else folder
        if not any((root / f).is_dir() for f in SPLIT_FOLDERS.values()):
            raise MirrorError(f"{key} = {location}: holds none of {', '.join(SPLIT_FOLDERS.values())}/ "
                              f"(nor data/ with them): not a folder of the mirror's parquet shards")
        return Mirror(LocalFileSystem(), root.resolve().as_posix(), str(root.resolve()))
    if _names_a_folder(location):
        raise MirrorError(f"{key} = {location}: no such folder ({folder.absolute()}), and not a Hugging Face "
                          f"dataset id (owner/name, e.g. agkphysics/AudioSet): check the path")
    if revision is None or not COMMIT.fullmatch(revision):
        raise MirrorError(f"{revision_key or key + '_revision'} = {revision!r}: a dataset repo is read at a pinned "
                          f"revision, the 40-digit commit of the version you plan with (the "
                          f"repository's 'Files and versions' page, or HfApi().dataset_info("
                          f"'{location}').sha); a branch moves, and so would the clips")
    try:
        from huggingface_hub import HfFileSystem
    except ImportError:
        raise MirrorError(f"{key} names a Hugging Face repo: pip install huggingface_hub") from None
    return Mirror(HfFileSystem(), f"datasets/{location}@{revision}/data", f"{location}@{revision}")


def _names_a_folder(location: str) -> bool:
    """A location that is not a folder here names a repo only when it has the form of a repo
    id and its first part is no folder here: `data/AudioSett` beside a `data/` is a typo."""
    owner = location.split("/")[0]
    return (location.startswith((".", "/", "~")) or not REPO_ID.fullmatch(location)
            or ".." in location or "--" in location or Path(owner).is_dir())


def _parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MirrorError("reading the mirror's parquet shards needs pyarrow: pip install pyarrow") from None
    return pq


# ------------------------------------------------------------------------------ the index

@dataclass(frozen=True)
class Group:
    split: str
    shard: str
    row_group: int
    rows: int
    bytes: int          # compressed, all columns: what reading the row group costs


@dataclass(frozen=True)
class MirrorIndex:
    where: dict[str, tuple[str, str, int]]     # video_id -> (split, shard, row group)
    groups: dict[tuple[str, int], Group]       # (shard, row group) -> its size

    def plan(self, wanted: dict[str, set[str]]) -> dict[str, dict]:
        """Per split: the clips wanted and held, and the row groups (bytes) to read of all."""
        out = {}
        for split in SPLIT_FOLDERS:
            need = wanted.get(split, set())
            held = {y for y in need if y in self.where}
            groups = {(s, g) for y in held for _, s, g in [self.where[y]]}
            every = [g for g in self.groups.values() if g.split == split]
            out[split] = {"clips_wanted": len(need), "clips_held": len(held),
                          "row_groups": len(groups), "row_groups_total": len(every),
                          "bytes": sum(self.groups[g].bytes for g in groups),
                          "bytes_total": sum(g.bytes for g in every)}
        return out


def _tag(mirror: Mirror) -> str:
    return hashlib.sha256(mirror.name.encode()).hexdigest()[:16]


def index_path(download_dir: str | Path, mirror: Mirror) -> Path:
    return Path(download_dir).expanduser() / "audioset" / "hf_index" / f"{_tag(mirror)}.csv"


def clips_folder(download_dir: str | Path, mirror: Mirror) -> Path:
    """Where the clips written from this mirror (and revision) are kept: one folder each,
    so that switching mirrors never takes another mirror's bytes for a clip."""
    return Path(download_dir).expanduser() / "audioset" / "hf_clips" / _tag(mirror)


def load_index(mirror: Mirror, path: Path, progress: bool = True) -> MirrorIndex:
    """The kept index at `path`, or one built now from the shards' id columns and kept."""
    if not path.is_file():
        build_index(mirror, path, progress)
    return read_index(path)


@contextmanager
def _reading(mirror: Mirror, shard: str | None = None):
    """The Hub unreachable, a revision gone, a shard cut short: one error naming the mirror,
    and the shard being read; a local folder's shard is damaged, not offline."""
    try:
        yield
    except MirrorError:
        raise
    except Exception as err:
        where = f"{mirror.name}/{shard}" if shard else mirror.name
        cause = f"{type(err).__name__}: {err}"
        if mirror.local:
            raise MirrorError(f"{where}: cannot be read ({cause}); the file is damaged or was cut short "
                              f"in copying: copy it again from the mirror") from err
        raise MirrorError(f"{where}: reading the mirror failed ({cause}); check the connection to the "
                          f"Hub, or use a local folder of its shards") from err


def build_index(mirror: Mirror, path: Path, progress: bool = True) -> None:
    with _reading(mirror):
        rows = _index_rows(mirror, progress)
    if not rows:
        raise MirrorError(f"{mirror.name}: no parquet shard under {', '.join(SPLIT_FOLDERS.values())}/")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(INDEX_HEADER)
        w.writerows(rows)
    write_json(path.with_suffix(".json"), {"source": mirror.name, "clips": len(rows)})
    os.replace(tmp, path)


def _index_rows(mirror: Mirror, progress: bool) -> list[tuple]:
    from aetasc.progress import bar
    pq = _parquet()
    rows = []
    for split in SPLIT_FOLDERS:
        for shard in bar(mirror.shards(split), desc=f"index {SPLIT_FOLDERS[split]}", disable=not progress,
                         leave=False):
            with _reading(mirror, shard), mirror.open(shard) as f:
                pf = pq.ParquetFile(f)
                _check_schema(pf, mirror, shard)
                for g in range(pf.num_row_groups):
                    meta = pf.metadata.row_group(g)
                    size = sum(meta.column(c).total_compressed_size for c in range(meta.num_columns))
                    ids = pf.read_row_group(g, columns=[ID_COLUMN]).column(0).to_pylist()
                    rows += [(y, split, shard, g, meta.num_rows, size) for y in ids]
    return rows


def _check_schema(pf, mirror: Mirror, shard: str) -> None:
    import pyarrow as pa
    schema = pf.schema_arrow
    names = schema.names
    audio = schema.field(AUDIO_COLUMN).type if AUDIO_COLUMN in names else None
    if (ID_COLUMN not in names or audio is None or not pa.types.is_struct(audio)
            or audio.get_field_index("bytes") < 0):
        raise MirrorError(f"{mirror.name}/{shard}: expected the columns {ID_COLUMN} and {AUDIO_COLUMN} "
                          f"(a struct with the file's bytes, as Hugging Face datasets store Audio), "
                          f"found {', '.join(f'{n}: {schema.field(n).type}' for n in names)}")
    id_type, bytes_type = schema.field(ID_COLUMN).type, audio.field("bytes").type
    if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type)):
        raise MirrorError(f"{mirror.name}/{shard}: column {ID_COLUMN}: {id_type}, expected string (the "
                          f"YouTube id); not a shard of an AudioSet mirror, or one written wrongly")
    if not (pa.types.is_binary(bytes_type) or pa.types.is_large_binary(bytes_type)):
        raise MirrorError(f"{mirror.name}/{shard}: column {AUDIO_COLUMN}.bytes: {bytes_type}, expected binary "
                          f"(the stored file's bytes, as Hugging Face datasets store Audio)")


def read_index(path: Path) -> MirrorIndex:
    where, groups = {}, {}
    with path.open(newline="") as f:
        reader = csv.reader(f)
        if next(reader, None) != INDEX_HEADER:
            raise MirrorError(f"{path}: header must be {','.join(INDEX_HEADER)} (delete it to rebuild)")
        for row in reader:
            try:
                ytid, split, shard, g, n, size = row
                key = (shard, int(g))
                group = Group(split, shard, int(g), int(n), int(size))
            except ValueError:
                raise MirrorError(f"{path}:{reader.line_num}: expected {','.join(INDEX_HEADER)}, got {row!r}; "
                                  f"the index is damaged (cut short?): delete it to rebuild") from None
            where.setdefault(ytid, (split, shard, int(g)))     # a clip held twice: its first copy
            groups.setdefault(key, group)
    return MirrorIndex(where, groups)


# ------------------------------------------------------------------------------ fetching

def write_clips(mirror: Mirror, index: MirrorIndex, wanted: set[str], folder: Path,
                progress: bool = True, empty: dict[str, str] | None = None) -> dict[str, Path]:
    """Write each wanted clip the mirror holds into `folder` as <id><suffix of the stored
    file> (FLAC on agkphysics/AudioSet), reading only the row groups that hold them. A clip
    already written there is not read again; a file appears only complete. A row without
    audio bytes (null or empty) is put in `empty` (ytid -> its shard), if given."""
    from aetasc.progress import bar
    pq = _parquet()
    folder.mkdir(parents=True, exist_ok=True)
    done = {p.stem: p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".partial")}
    written = {y: done[y] for y in wanted if y in done}
    by_group = defaultdict(set)
    for y in sorted(wanted - set(written)):
        if y in index.where:
            _, shard, g = index.where[y]
            by_group[(shard, g)].add(y)
    for (shard, g), ids in bar(sorted(by_group.items()), desc="mirror row groups", disable=not progress):
        with _reading(mirror, shard), mirror.open(shard) as f:
            pf = pq.ParquetFile(f)
            _check_schema(pf, mirror, shard)        # rewritten since the index was built?
            table = pf.read_row_group(g, columns=[ID_COLUMN, AUDIO_COLUMN])
        for ytid, audio in zip(table.column(ID_COLUMN).to_pylist(), table.column(AUDIO_COLUMN).to_pylist()):
            if ytid in ids and ytid not in written and not (audio and audio.get("bytes")):
                if empty is not None:
                    empty.setdefault(ytid, shard)
            elif ytid in ids and ytid not in written:
                suffix = Path(audio.get("path") or "").suffix.lower() or ".flac"
                path = folder / f"{ytid}{suffix}"
                tmp = path.with_name(path.name + ".partial")
                tmp.write_bytes(audio["bytes"])
                os.replace(tmp, path)
                written[ytid] = path
    return written


def plan_lines(name: str, plan: dict[str, dict]) -> list[str]:
    from tqdm import tqdm
    lines = [f"from the mirror {name} (row groups and bytes read, of all the split holds):",
             f"  {'split':<18} {'clips wanted':>12} {'held':>9} {'row groups':>18} {'bytes to read':>21}"]
    for split, p in plan.items():
        lines.append(f"  {split:<18} {p['clips_wanted']:>12,} {p['clips_held']:>9,} "
                     f"{p['row_groups']:>8,} of {p['row_groups_total']:>6,} "
                     f"{tqdm.format_sizeof(p['bytes'], 'B'):>9} of {tqdm.format_sizeof(p['bytes_total'], 'B'):>8}")
    return lines
