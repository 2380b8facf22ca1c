"""Log-mel features: the front end, batch extraction into one memory-mapped array, the reader.

An extracted folder holds
    features.npy   float16 (clips, n_mels, frames), one row per accepted clip, in input order
    index.csv      row,clip_id,digest (a hash of the row's bytes: what a run's identity is made of)
    rejected.csv   clip_id,path,reason,detail (reason: one of aetasc.data.audio.REASONS)
    settings.json  what produced the array, with the sha256 of features.npy; written last, so
                   it doubles as the completion mark
The folder is built under a temporary name and renamed into place only when complete, so
a killed extraction leaves the previous output (or nothing) behind, never a partial array.

The array's digest is checked when a process first opens it (sha256, ~1.5 GB/s), so rows
changed after extraction stop the run, naming the array, instead of training under the
identity (row digests) of the data they replaced.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np
import soundfile as sf
import soxr
import torch
from numpy.lib import format as npy
from torch import nn
from torch.utils.data import DataLoader, Dataset

from aetasc.data.audio import NON_FINITE, AudioError, load_clip
from aetasc.config import FeatureParams
from aetasc.io import atomic_dir, file_sha256, read_json, write_json
from aetasc.progress import bar as progress_bar
from aetasc.features.spectral import MelSpectrogram
from aetasc.errors import AetascError

FEATURES, INDEX, REJECTED, SETTINGS = "features.npy", "index.csv", "rejected.csv", "settings.json"
FORMAT = 3       # 2: index.csv carries each row's digest; 3: settings.json the array's sha256
# What the front end does beyond FeatureParams. Stored with every extraction and compared on
# reading, so features made by a different front end are never mixed with current ones.
FRONT_END = {
    "audio": "channels averaged; resampled with soxr HQ; first clip_seconds kept, zero-padded",
    "stft": "hann window (periodic), centred frames, reflect padding, power 2",
    "mel": "slaney mel scale, slaney (area) normalization, as librosa.filters.mel defaults",
    "log": "natural log of (mel + log_offset)",
}


class LogMel(nn.Module):
    """(batch, samples) waveforms -> (batch, n_mels, frames) log-mel spectrograms.

    The Slaney mel scale and area normalization are librosa's defaults (and PANNs'), so the
    filterbank can be checked against librosa and a pretrained tagger of that lineage sees
    the features it was trained on. The module follows its input to whatever device it is
    on, and computes in float32 whatever the input dtype.
    """

    def __init__(self, params: FeatureParams):
        super().__init__()
        self.params = params
        self.mel = MelSpectrogram(params.sample_rate, n_fft=params.n_fft, win_length=params.win_length,
                                  hop_length=params.hop_length, f_min=params.fmin, f_max=params.fmax,
                                  n_mels=params.n_mels)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        if waves.dim() != 2:
            raise ValueError(f"LogMel expects (batch, samples), got shape {tuple(waves.shape)}")
        if self.mel.window.device != waves.device:
            self.to(waves.device)
        return torch.log(self.mel(waves.float()) + self.params.log_offset)


# ------------------------------------------------------------------------------ reading

class FeatureError(AetascError, ValueError):
    """A features folder is incomplete, inconsistent, or made with other settings."""


def row_digest(row: np.ndarray) -> str:
    """The identity of one feature row: a hash of its bytes (64 bits, ~1 GB/s)."""
    return hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=8).hexdigest()


@dataclass
class FeatureTable:
    root: Path
    ids: list[str]
    array: np.ndarray                     # read-only memmap (clips, n_mels, frames), float16
    settings: dict
    rejected: dict[str, str] = field(default_factory=dict)   # clip_id -> reason
    digests: list[str] = field(default_factory=list)          # row_digest of each row
    _row: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        self._row = {clip_id: i for i, clip_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """Row numbers of clip ids; KeyError naming the first id without features."""
        out = []
        for clip_id in ids:
            row = self._row.get(clip_id)
            if row is None:
                why = (f"rejected at extraction ({self.rejected[clip_id]})" if clip_id in self.rejected
                       else "not in the extracted clip set")
                raise KeyError(f"{clip_id}: no features in {self.root}: {why}")
            out.append(row)
        return np.asarray(out, dtype=np.int64)

    def check(self, expected: FeatureParams) -> None:
        """Raise FeatureError unless the features were made with `expected` and this front end."""
        made = {**self.settings["features"], **self.settings["front_end"]}
        want = {**expected.model_dump(), **FRONT_END}
        diff = [f"{k}: extracted with {made.get(k)!r}, expected {want[k]!r}"
                for k in want if made.get(k) != want[k]]
        if diff:
            raise FeatureError(f"{self.root}: features were extracted with other settings "
                               f"(rerun extract_features):\n  " + "\n  ".join(diff))


def open_features(root: str | Path, expected: FeatureParams | None = None) -> FeatureTable:
    """Open a complete features folder; with `expected`, also check its settings."""
    root = Path(root)
    settings_path = root / SETTINGS
    if not settings_path.is_file():
        raise FeatureError(f"{root}: not a complete features folder ({SETTINGS} missing: "
                           f"extraction did not run or did not finish)")
    settings = read_json(settings_path)
    if settings.get("format") != FORMAT or settings.get("complete") is not True:
        raise FeatureError(f"{settings_path}: unknown format or incomplete extraction")
    array = np.load(root / FEATURES, mmap_mode="r")
    if list(array.shape) != settings["shape"] or array.dtype != np.float16:
        raise FeatureError(f"{root / FEATURES}: {array.dtype} {list(array.shape)} does not match "
                           f"{SETTINGS} (float16 {settings['shape']})")
    _check_array_digest(root / FEATURES, settings.get("array_sha256"))
    ids, digests = _read_index(root / INDEX, len(array))
    table = FeatureTable(root, ids, array, settings, _read_rejected(root / REJECTED), digests)
    if expected is not None:
        table.check(expected)
    return table


_CHECKED: set[tuple] = set()      # arrays whose digest this process has checked, by file state


def array_sha256(path: Path) -> str:
    return file_sha256(path)


def _check_array_digest(path: Path, expected: str | None) -> None:
    """The array's bytes against the digest recorded at extraction, once per process and
    file state (path, size, mtime, inode): a figure stage opens each array once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, expected)
    if key in _CHECKED:
        return
    if array_sha256(path) != expected:
        raise FeatureError(f"{path}: its bytes do not match the sha256 recorded at extraction in "
                           f"{SETTINGS}: the array was changed or damaged since; rerun extraction "
                           f"(`dvc repro --force` its extract_features stage, or `dvc checkout` it)")
    _CHECKED.add(key)


def _read_index(path: Path, n: int) -> tuple[list[str], list[str]]:
    """(clip ids, row digests) of index.csv."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != ["row", "clip_id", "digest"]:
        raise FeatureError(f"{path}: header must be row,clip_id,digest")
    if [r[0] for r in rows[1:]] != [str(i) for i in range(n)] or any(len(r) != 3 for r in rows[1:]):
        raise FeatureError(f"{path}: rows must run 0..{n - 1} in order, one per array row, with a digest")
    return [r[1] for r in rows[1:]], [r[2] for r in rows[1:]]


def _read_rejected(path: Path) -> dict[str, str]:
    with path.open(newline="") as f:
        return {r["clip_id"]: r["reason"] for r in csv.DictReader(f)}


# --------------------------------------------------------------------------- extraction

class _Clips(Dataset):
    """Decodes clip i in a loader worker; a bad file becomes (reason, detail), not an error."""

    def __init__(self, clips: list[tuple[str, Path]], params: FeatureParams):
        self.clips, self.sample_rate, self.clip_samples = clips, params.sample_rate, params.clip_samples

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int):
        path = self.clips[i][1]
        try:
            return i, load_clip(path, self.sample_rate, self.clip_samples), None
        except AudioError as err:
            return i, None, (err.reason, err.detail)
        except Exception as err:
            raise RuntimeError(f"{path}: unexpected error while decoding: {err!r}") from err


class _Batch(NamedTuple):
    accepted: list[int]                   # clip numbers, in order, of the rows of `waves`
    waves: torch.Tensor | None            # (len(accepted), clip_samples) float32
    rejected: list[tuple[int, str, str]]  # (clip number, reason, detail)


def _collate(items) -> _Batch:
    ok = [(i, w) for i, w, _ in items if w is not None]
    waves = torch.from_numpy(np.stack([w for _, w in ok])) if ok else None
    return _Batch([i for i, _ in ok], waves, [(i, *bad) for i, _, bad in items if bad])


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def default_workers() -> int:
    """Decoding processes: all cores but one, which feeds the front end (on the GPU or here)
    and writes the array. Decoding and resampling, not the front end, set the pace."""
    return max(1, _cores() - 1)


@contextlib.contextmanager
def _front_end_threads(device: torch.device, workers: int):
    """On CPU, give the front end only the cores the decoders leave.

    Intra-op threads competing with busy decoder processes for the same cores slow the
    front end down several-fold (measured on a 2-core machine), more than they ever gain.
    """
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, _cores() - workers))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def extract_features(clips: list[tuple[str, Path]], params: FeatureParams, out_dir: str | Path,
                     device: str | torch.device | None = None, workers: int | None = None,
                     batch_size: int = 32, progress: bool = True) -> dict:
    """Log-mel features of (clip_id, path) pairs into out_dir; returns a summary.

    Bad files are listed in rejected.csv and counted in the summary, never fatal and never
    given a row. Decoding runs in `workers` processes (0 = in this process; default: see
    default_workers), the front end on `device` (default: CUDA if available). The summary has
    the counts, the wall time, clips per second and the audio seconds extracted per wall
    second ("x real time").
    """
    _check_unique([c for c, _ in clips])
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    workers = default_workers() if workers is None else workers
    started = time.perf_counter()
    try:
        with atomic_dir(out_dir) as tmp, _front_end_threads(device, workers):
            accepted, rejected, digests = _extract_into(tmp / FEATURES, clips, params, device, workers,
                                                        batch_size, progress)
            _write_tables(tmp, clips, accepted, rejected, digests)
            settings = _settings(params, len(clips), len(accepted), rejected, array_sha256(tmp / FEATURES))
            write_json(tmp / SETTINGS, settings)
            _fsync(tmp / SETTINGS)
    except OSError as err:
        if err.errno != errno.ENOSPC or isinstance(err, DiskFullError):
            raise
        raise DiskFullError(errno.ENOSPC, f"{out_dir}: the disk filled up while writing the features "
                                          f"({err}); nothing was kept") from None
    seconds = time.perf_counter() - started
    return {"out_dir": str(out_dir), "device": str(device), "workers": workers,
            "clips": len(clips), "accepted": len(accepted), "rejected": settings["rejected"],
            "seconds": seconds, "clips_per_second": len(clips) / seconds,
            "x_realtime": len(accepted) * params.clip_seconds / seconds}


def _check_unique(ids: list[str]) -> None:
    seen = set()
    for clip_id in ids:
        if clip_id in seen:
            raise ValueError(f"clip id {clip_id!r} appears more than once in the clip list")
        seen.add(clip_id)


def _extract_into(path: Path, clips, params: FeatureParams, device: torch.device, workers: int,
                  batch_size: int, progress: bool):
    """Fill features.npy with accepted clips in order; return (accepted, rejected) clip numbers
    and the digest of each written row.

    The array is created with a row for every clip, since how many files are bad is known
    only at the end, and then cut to the accepted rows.
    """
    front_end = LogMel(params).to(device).eval()
    loader = DataLoader(_Clips(clips, params), batch_size=batch_size, num_workers=workers,
                        collate_fn=_collate, pin_memory=device.type == "cuda",
                        prefetch_factor=2 if workers else None)
    array = _allocate(path, (len(clips), params.n_mels, params.frames))
    accepted, rejected, digests = [], [], []
    with progress_bar(total=len(clips), unit="clip", desc="log-mel", disable=not progress) as bar, \
            torch.inference_mode():
        for batch in loader:
            if batch.accepted:
                feats = front_end(batch.waves.to(device, non_blocking=True)).half().cpu().numpy()
                # audio can be finite and still overflow the front end (float samples of 1e20)
                finite = np.isfinite(feats).all(axis=(1, 2))
                for j in np.flatnonzero(~finite):
                    peak = float(batch.waves[j].abs().max())
                    rejected.append((batch.accepted[j], NON_FINITE,
                                     f"log-mel not finite (sample peak {peak:.3g})"))
                feats = feats[finite]
                array[len(accepted):len(accepted) + len(feats)] = feats
                accepted += [i for i, ok in zip(batch.accepted, finite) if ok]
                digests += [row_digest(row) for row in feats]
            rejected += batch.rejected
            bar.update(len(batch.accepted) + len(batch.rejected))
    array.flush()
    del array
    _shrink_rows(path, len(accepted))
    _fsync(path)
    return accepted, rejected, digests


class DiskFullError(AetascError, OSError):
    """The filesystem cannot hold the feature array; the message names the path and bytes."""


def _allocate(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """The array's memmap with its blocks reserved on disk. Writing a memory map onto a full
    disk kills the process with SIGBUS (no message, no cleanup); so the free space is checked
    first and the file's blocks allocated (posix_fallocate) before any row is written."""
    needed = int(np.prod(shape)) * 2 + 128
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise DiskFullError(errno.ENOSPC, f"{path}: the feature array needs {needed:,} bytes "
                                          f"({needed / 1e9:.2f} GB), only {free:,} bytes free there")
    array = npy.open_memmap(path, mode="w+", dtype=np.float16, shape=shape)
    try:
        with open(path, "r+b") as f:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
    except OSError as err:
        if err.errno in (errno.EOPNOTSUPP, errno.EINVAL):      # a filesystem without it: write as is
            return array
        del array
        raise DiskFullError(err.errno, f"{path}: cannot allocate the feature array's "
                                       f"{needed:,} bytes ({err.strerror})") from None
    return array


def _shrink_rows(path: Path, rows: int) -> None:
    """Cut a .npy array to its first `rows` rows in place: rewrite the header, truncate.

    numpy pads .npy headers so the first dimension can change without moving the data; the
    length check makes sure that still holds.
    """
    with open(path, "r+b") as f:
        version = npy.read_magic(f)
        read, write = {(1, 0): (npy.read_array_header_1_0, npy.write_array_header_1_0),
                       (2, 0): (npy.read_array_header_2_0, npy.write_array_header_2_0)}[version]
        shape, fortran, dtype = read(f)
        offset = f.tell()
        header = io.BytesIO()
        write(header, {"descr": npy.dtype_to_descr(dtype), "fortran_order": fortran,
                       "shape": (rows, *shape[1:])})
        if len(header.getvalue()) != offset:
            raise RuntimeError(f"{path}: .npy header would change length; cannot shrink in place")
        f.seek(0)
        f.write(header.getvalue())
        f.truncate(offset + rows * int(np.prod(shape[1:])) * dtype.itemsize)


def _fsync(path: Path) -> None:
    # The folder is renamed into place next; its files must be on disk before the name is.
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _write_tables(root: Path, clips, accepted: list[int], rejected: list[tuple[int, str, str]],
                  digests: list[str]) -> None:
    with (root / INDEX).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["row", "clip_id", "digest"])
        w.writerows((row, clips[i][0], digests[row]) for row, i in enumerate(accepted))
    with (root / REJECTED).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["clip_id", "path", "reason", "detail"])
        w.writerows((clips[i][0], str(clips[i][1]), reason, detail) for i, reason, detail in sorted(rejected))


def _settings(params: FeatureParams, n_clips: int, n_accepted: int, rejected, sha256: str) -> dict:
    # No timings or dates: the same inputs must give a byte-identical folder for DVC.
    return {
        "format": FORMAT,
        "features": params.model_dump(),
        "front_end": FRONT_END,
        "dtype": "float16",
        "shape": [n_accepted, params.n_mels, params.frames],
        "array_sha256": sha256,
        "clips": n_clips,
        "accepted": n_accepted,
        "rejected": dict(sorted(Counter(reason for _, reason, _ in rejected).items())),
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "soundfile": sf.__version__,
                     "libsndfile": sf.__libsndfile_version__, "soxr": soxr.__version__},
        "complete": True,
    }
