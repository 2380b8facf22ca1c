"""A run's checkpoint file: written atomically, read only after its CRCs check out.

The checkpoint is a torch zip file; torch.load alone reads a flipped bit in tensor data
without complaint, so load_checkpoint tests every record's CRC-32 first.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch

from aetasc.errors import AetascError
from aetasc.io import file_sha256

CHECKPOINT = "checkpoint.pt"


class CheckpointError(AetascError, ValueError):
    """A checkpoint file is damaged (cut short, a bit flipped) or not one of ours."""


def save_checkpoint(state: dict, path: Path) -> None:
    """Through a temporary file and an atomic rename: a killed run leaves the previous one."""
    tmp = path.with_name(path.name + ".partial")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint, after checking every record against the CRC-32 its zip stores; errors
    name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint")
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint (cut short or not a torch zip "
                              f"file: {err})") from None
    if bad is not None:
        raise CheckpointError(f"{path}: damaged checkpoint (record {bad} fails its CRC-32 check)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:          # unpickling refused, a record missing: say which file
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(err).__name__}: {err})") from None


_HASHED: dict[tuple, str] = {}      # checkpoints hashed in this process: file state -> sha256


def checkpoint_sha256(path: Path) -> str:
    """sha256 of a checkpoint file, hashed once per process and file state (path, size,
    mtime, inode): a stage reusing many kept checkpoints reads each once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _HASHED:
        _HASHED[key] = file_sha256(path)
    return _HASHED[key]
