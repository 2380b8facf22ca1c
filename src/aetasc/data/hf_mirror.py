"""AudioSet clips from a Hugging Face mirror's parquet shards, reading only what is needed.

The mirrors the community uses (e.g. `agkphysics/AudioSet`) hold
`data/{bal_train,unbal_train,eval}/*.parquet` with the columns `video_id` (string), `audio`
(Hugging Face `datasets`' Audio feature, stored as a struct {bytes, path}: FLAC bytes and a
file name), `labels` and `human_labels`. The unbalanced split alone is terabytes, so:

1. an index video_id -> (shard, row group) is built from the `video_id` column alone
   (parquet stores columns apart: only the footers and the id column chunks are read) and
   kept in `<download_dir>/audioset/hf_index/<source and revision>/`, one file per shard
   named by the shard's version: written as each shard is read (a failed run resumes), and
   built anew for a shard added or rewritten since;
2. the plan says which row groups hold the needed clips, and the requests and bytes they
   cost; the mirror's row groups hold 100 clips, so a large share of a split is read
   whole, and the plan then says to download its shards instead;
3. only those row groups are read (their id and audio columns, each shard opened once), and
   each needed clip is written out as the file the mirror stored.

A repo id is read through huggingface_hub's file system (HTTP range requests, paced to the
Hub's rate limits) at a pinned revision, so that a rerun reads the same bytes; a local
folder of the shards (a download or a clone of the repository) is read the same way from
disk.
"""
from __future__ import annotations

import csv
import os
import posixpath
import re
import sys
import time
from collections import defaultdict, deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aetasc.io import partial_path, remove_dead_partials_in, write_json
from aetasc.errors import AetascError

SPLIT_FOLDERS = {"balanced_train": "bal_train", "unbalanced_train": "unbal_train", "eval": "eval"}
ID_COLUMN, AUDIO_COLUMN = "video_id", "audio"
INDEX_HEADER = ["video_id", "split", "shard", "row_group", "group_rows", "group_bytes"]
COMMIT = re.compile(r"[0-9a-f]{40}")      # whole string: re.fullmatch (a "$" lets "\n" through)
REPO_ID = re.compile(r"[\w.-]{1,96}/[\w.-]{1,96}")    # huggingface_hub's validate_repo_id, owner required


class MirrorError(AetascError, RuntimeError):
    """The mirror is not what the params say; the message names the shard or the key."""


class Pace:
    """At most `limit` requests in any `window` seconds: the Hub counts the range requests on
    its resolve URLs per 5-minute window (huggingface.co/docs/hub/rate-limits), and answers
    429 beyond; a sliding window keeps under it however the Hub's windows fall."""

    def __init__(self, limit: int, window: float = 300.0, clock=time.monotonic, sleep=time.sleep):
        self.limit, self.window, self.clock, self.sleep = limit, window, clock, sleep
        self.times: deque[float] = deque()
        self.taken = 0

    def take(self) -> None:
        now = self.clock()
        if len(self.times) >= self.limit:
            wait = self.times[-self.limit] + self.window - now
            if wait > 0:
                self.sleep(wait)
                now = self.clock()
        self.times.append(now)
        while len(self.times) > self.limit:
            self.times.popleft()
        self.taken += 1


# The Hub's resolver limits per 5 minutes: 3,000 anonymous (per IP address), 5,000 for a
# logged-in free account (higher plans more); 90 % of them, leaving room for anything else.
RESOLVES_ANONYMOUS, RESOLVES_WITH_TOKEN = 2700, 4500


def hub_pace() -> Pace:
    """The pace for the Hub: with a token (HF_TOKEN, or `hf auth login`) the higher limit."""
    from huggingface_hub import get_token
    return Pace(RESOLVES_WITH_TOKEN if get_token() else RESOLVES_ANONYMOUS)


class _PacedFile:
    """A shard opened on the Hub: each read is one range request (no read-ahead cache), and
    waits for its turn."""

    def __init__(self, f, pace: Pace):
        self._f, self._pace = f, pace

    def read(self, n: int = -1) -> bytes:
        self._pace.take()
        return self._f.read(n)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@dataclass(frozen=True)
class Mirror:
    """Parquet shards on a file system (local or the Hub), under `root`/<split folder>/."""
    fs: object          # an fsspec file system
    root: str
    name: str           # for messages and the index's file name: repo@revision, or the folder
    pace: Pace | None = None    # the Hub's rate limits; None for a local folder

    @property
    def local(self) -> bool:
        """A folder on this machine (no Hub, no connection to blame)."""
        from fsspec.implementations.local import LocalFileSystem
        return isinstance(self.fs, LocalFileSystem)

    def shards(self, split: str) -> dict[str, str]:
        """The split's shards, relative to root, in name order, each with its version: its
        size and content id on the Hub (a pinned revision), its size and mtime in a folder."""
        folder = SPLIT_FOLDERS[split]
        try:
            found = self.fs.glob(f"{self.root}/{folder}/*.parquet", detail=True)
        except self._missing():     # a folder the revision lacks: older huggingface_hub raise
            found = {}
        return {f"{folder}/{posixpath.basename(p)}": _version(info) for p, info in sorted(found.items())}

    def _missing(self) -> tuple[type[BaseException], ...]:
        if self.local:
            return (FileNotFoundError,)
        from huggingface_hub.errors import EntryNotFoundError
        return (FileNotFoundError, EntryNotFoundError)

    def open(self, shard: str):
        # no read-ahead cache: each read pyarrow makes (the footer, a column chunk) is one
        # range request for exactly those bytes, not a 5 MB block
        f = self.fs.open(f"{self.root}/{shard}", "rb", cache_type="none")
        return _PacedFile(f, self.pace) if self.pace else f


def _version(info: dict) -> str:
    lfs = info.get("lfs") or {}
    content = lfs.get("sha256") or info.get("blob_id")
    stamp = content[:16] if content else f"{round(info['mtime'] * 1e6)}"
    return f"{info['size']}-{stamp}"


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
            if any(root.glob("*.tar")):
                raise MirrorError(_no_shards(Mirror(LocalFileSystem(), root.as_posix(), f"{key} = {location}")))
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
    return Mirror(HfFileSystem(), f"datasets/{location}@{revision}/data", f"{location}@{revision}", hub_pace())


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
    versions: dict[str, str]                   # shard -> the version indexed
    folder: Path                               # where it is kept, for messages

    def plan(self, wanted: dict[str, set[str]]) -> dict[str, dict]:
        """Per split: the clips wanted and held, the row groups (bytes) to read of all, and
        the requests reading them costs (see FETCH_REQUESTS)."""
        out = {}
        for split in SPLIT_FOLDERS:
            need = wanted.get(split, set())
            held = {y for y in need if y in self.where}
            groups = {(s, g) for y in held for _, s, g in [self.where[y]]}
            every = [g for g in self.groups.values() if g.split == split]
            out[split] = {"clips_wanted": len(need), "clips_held": len(held),
                          "row_groups": len(groups), "row_groups_total": len(every),
                          "shards": len({s for s, _ in groups}), "shards_total": len({g.shard for g in every}),
                          "requests": fetch_requests(len({s for s, _ in groups}), len(groups)),
                          "bytes": sum(self.groups[g].bytes for g in groups),
                          "bytes_total": sum(g.bytes for g in every)}
        return out


def fetch_requests(shards: int, row_groups: int) -> int:
    """Range requests to fetch clips: each shard's footer once, then one per row group (its
    video_id and audio chunks lie next to each other, and pyarrow reads them in one)."""
    return shards + row_groups


def _part(folder: Path, shard: str, version: str) -> Path:
    """A shard's part of the index, named by the shard's version: a shard copied later or
    rewritten has a part of another name, and is indexed anew."""
    return folder / f"{shard}@{version}.csv"


def load_index(mirror: Mirror, folder: Path, progress: bool = True) -> MirrorIndex:
    """The index of the mirror's shards as they are now, kept in `folder`: a shard's part is
    read from there if it was built from this version of the shard, else built now and kept
    at once (so a failure loses only the shard being read, and the next run resumes)."""
    from aetasc.progress import bar
    with _reading(mirror):
        shards = {shard: (split, version) for split in SPLIT_FOLDERS
                  for shard, version in mirror.shards(split).items()}
        if not shards:
            raise MirrorError(_no_shards(mirror))
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "source.json", {"source": mirror.name})
    parts = {shard: _part(folder, shard, version) for shard, (_, version) in shards.items()}
    todo = [shard for shard, part in parts.items() if not part.is_file()]
    if todo and progress:
        pace = f", paced to {mirror.pace.limit:,} per {mirror.pace.window / 60:g} min" if mirror.pace else ""
        print(f"indexing {len(todo):,} of {len(shards):,} shards of {mirror.name} (each its footer and one "
              f"video_id chunk per row group: ~20 requests a shard on agkphysics/AudioSet{pace})", file=sys.stderr)
    for part_folder in {parts[shard].parent for shard in todo}:
        remove_dead_partials_in(part_folder)
    for shard in bar(todo, desc="index shards", disable=not progress, leave=False):
        rows = _index_shard(mirror, shards[shard][0], shard)
        parts[shard].parent.mkdir(parents=True, exist_ok=True)
        tmp = partial_path(parts[shard])            # another worker may index the same shard
        with tmp.open("w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(INDEX_HEADER)
            w.writerows(rows)
        os.replace(tmp, parts[shard])
    for old in set(folder.rglob("*.csv")) - set(parts.values()):
        old.unlink(missing_ok=True)     # of a shard rewritten or gone: ours, never read again
    return read_index(folder, {s: (parts[s], shards[s][1]) for s in sorted(parts)})


def _no_shards(mirror: Mirror) -> str:
    """No parquet shard: a revision from before the mirror's conversion to parquet holds
    WebDataset tars (data/bal_train00.tar ...) beside the segment CSVs; say so."""
    tars = sorted(posixpath.basename(p) for p in mirror.fs.glob(f"{mirror.root}/*.tar"))
    if tars:
        return (f"{mirror.name}: holds WebDataset tar shards ({', '.join(tars[:2])}, ...: {len(tars)} in all) "
                f"and no parquet: a revision from before the mirror's conversion to parquet, which is "
                f"not read here; pin a later commit (the repository's history: 'Convert to Parquet "
                f"format'), whose data/{{bal_train,unbal_train,eval}}/ hold parquet shards")
    return f"{mirror.name}: no parquet shard under {', '.join(SPLIT_FOLDERS.values())}/"


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


def _index_shard(mirror: Mirror, split: str, shard: str) -> list[tuple]:
    pq = _parquet()
    rows = []
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


def read_index(folder: Path, parts: dict[str, tuple[Path, str]]) -> MirrorIndex:
    """The index from its parts: shard -> (its part, the shard's version)."""
    where, groups = {}, {}
    for path, _ in parts.values():
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
    return MirrorIndex(where, groups, {shard: version for shard, (_, version) in parts.items()}, folder)


# ------------------------------------------------------------------------------ fetching

def write_clips(mirror: Mirror, index: MirrorIndex, wanted: set[str], folder: Path,
                progress: bool = True, empty: dict[str, str] | None = None) -> dict[str, Path]:
    """Write each wanted clip the mirror holds into `folder`/<shard>@<its version>/ as
    <id><suffix of the stored file> (FLAC on agkphysics/AudioSet), reading only the row
    groups that hold them, each shard opened once. A clip already written from this version
    of its shard is not read again (a shard rewritten since is read anew); a file appears
    only complete. A row without audio bytes (null or empty) is put in `empty` (ytid -> its
    shard), if given."""
    from aetasc.progress import bar
    pq = _parquet()
    needed: dict[str, set[str]] = defaultdict(set)
    for y in wanted & set(index.where):
        needed[index.where[y][1]].add(y)
    written, by_shard = {}, defaultdict(lambda: defaultdict(set))
    for shard, ids in needed.items():
        out = folder / f"{shard}@{index.versions[shard]}"
        done = {p.stem: p for p in out.iterdir() if not p.name.endswith(".partial")} if out.is_dir() else {}
        written.update({y: done[y] for y in ids if y in done})
        for y in ids - set(done):
            by_shard[shard][index.where[y][2]].add(y)
    for shard, groups in bar(sorted(by_shard.items()), desc="mirror shards", disable=not progress):
        out = folder / f"{shard}@{index.versions[shard]}"
        out.mkdir(parents=True, exist_ok=True)
        remove_dead_partials_in(out)
        with _reading(mirror, shard), mirror.open(shard) as f:
            pf = pq.ParquetFile(f)
            _check_schema(pf, mirror, shard)        # rewritten since the index was built?
            for g, ids in sorted(groups.items()):
                if g >= pf.num_row_groups:
                    raise _stale(mirror, index, shard, g, ids)
                table = pf.read_row_group(g, columns=[ID_COLUMN, AUDIO_COLUMN])
                rows = dict(zip(table.column(ID_COLUMN).to_pylist(), table.column(AUDIO_COLUMN).to_pylist()))
                if ids - set(rows):
                    raise _stale(mirror, index, shard, g, ids - set(rows))
                for ytid in sorted(ids):
                    audio = rows[ytid]
                    if not (audio and audio.get("bytes")):
                        if empty is not None:
                            empty.setdefault(ytid, shard)
                        continue
                    suffix = Path(audio.get("path") or "").suffix.lower() or ".flac"
                    path = out / f"{ytid}{suffix}"
                    tmp = partial_path(path)        # another worker may write the same clip
                    tmp.write_bytes(audio["bytes"])
                    os.replace(tmp, path)
                    written[ytid] = path
    return written


def _stale(mirror: Mirror, index: MirrorIndex, shard: str, g: int, ids: set[str]) -> MirrorError:
    return MirrorError(f"{mirror.name}/{shard}: row group {g} does not hold {len(ids)} clips the index placed "
                       f"there (e.g. {min(ids)}): the shard changed since the index {index.folder} was "
                       f"built; run again, which indexes changed shards anew")


# agkphysics/AudioSet as published: clips per split, 100 clips a row group (the writer's
# PARQUET_ROW_GROUP_SIZE_FOR_AUDIO_DATASETS), FLAC at ~1.39 MB a clip, 943 shards in all.
PUBLISHED = "agkphysics/AudioSet"
PUBLISHED_CLIPS = {"balanced_train": 18_685, "unbalanced_train": 1_738_788, "eval": 17_142}
CLIPS_PER_ROW_GROUP, PUBLISHED_CLIP_BYTES, PUBLISHED_SHARDS = 100, 1.39e6, 943


def published_row_groups(split: str) -> int:
    return -(-PUBLISHED_CLIPS[split] // CLIPS_PER_ROW_GROUP)


def index_requests() -> int:
    """Range requests to index agkphysics/AudioSet: every footer and id column chunk."""
    return PUBLISHED_SHARDS + sum(published_row_groups(split) for split in PUBLISHED_CLIPS)


def estimate_plan(wanted: dict[str, int]) -> dict[str, dict]:
    """MirrorIndex.plan's figures for agkphysics/AudioSet before its index is built, from its
    published layout alone: `wanted` clips per split, as many held as it holds (a clip it
    lacks is replaced by another one it may hold), spread over its row groups as at random
    (the index gives the real ones). Shard footers add at most PUBLISHED_SHARDS requests."""
    out = {}
    for split, total in PUBLISHED_CLIPS.items():
        groups = published_row_groups(split)
        held = min(wanted.get(split, 0), total)
        touched = round(groups * (1 - (1 - held / total) ** CLIPS_PER_ROW_GROUP))
        out[split] = {"clips_wanted": wanted.get(split, 0), "clips_held": held, "row_groups": touched,
                      "row_groups_total": groups, "requests": touched,
                      "bytes": round(min(touched * CLIPS_PER_ROW_GROUP, total) * PUBLISHED_CLIP_BYTES),
                      "bytes_total": round(total * PUBLISHED_CLIP_BYTES)}
    return out


def estimate_lines(plan: dict[str, dict]) -> list[str]:
    index = index_requests()
    return ([f"estimated for {PUBLISHED} from its published layout (100 clips a row group, the clips "
             f"taken as spread over them at random; --hf gives the mirror's own):",
             f"  its index first: ~{index:,} range requests, at least {index / RESOLVES_ANONYMOUS * 5:.0f} min "
             f"paced to the Hub's anonymous limit, {index / RESOLVES_WITH_TOKEN * 5:.0f} min with HF_TOKEN set"]
            + plan_lines(f"{PUBLISHED}@<commit>", plan)[1:])


# Above this share of a split's bytes, reading row groups is in effect reading the split:
# downloading its shards whole is as many bytes in ~1 request a shard, and leaves a folder
# that later runs read from disk.
WHOLE_SHARDS_ABOVE = 0.5


def plan_lines(name: str, plan: dict[str, dict]) -> list[str]:
    from tqdm import tqdm
    lines = [f"from the mirror {name} (row groups, range requests and bytes read, of all the split holds):",
             f"  {'split':<18} {'clips wanted':>12} {'held':>9} {'row groups':>18} {'requests':>9} "
             f"{'bytes to read':>21}"]
    for split, p in plan.items():
        lines.append(f"  {split:<18} {p['clips_wanted']:>12,} {p['clips_held']:>9,} "
                     f"{p['row_groups']:>8,} of {p['row_groups_total']:>6,} {p['requests']:>9,} "
                     f"{tqdm.format_sizeof(p['bytes'], 'B'):>9} of {tqdm.format_sizeof(p['bytes_total'], 'B'):>8}")
    repo, _, revision = name.partition("@")
    for split, p in plan.items():
        if revision and p["bytes_total"] and p["bytes"] > WHOLE_SHARDS_ABOVE * p["bytes_total"]:
            lines.append(f"  {split}: that is {p['bytes'] / p['bytes_total']:.0%} of the split's bytes: download its "
                         f"shards whole instead, with `hf download {repo} --repo-type dataset "
                         f"--revision {revision} --include \"data/{SPLIT_FOLDERS[split]}/*\" --local-dir <folder>`, "
                         f"and set audioset_hf to that folder (audioset_hf_revision: null)")
    return lines
