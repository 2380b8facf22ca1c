"""Where a Hugging Face mirror's index and clips are kept under `download_dir`, and the
layouts earlier versions kept them in, removed when found.

Now: `audioset/hf_index/<tag>/<shard>@<version>.csv` (one part per shard) and
`audioset/hf_clips/<tag>/<shard>@<version>/<ytid>.<ext>`, `<tag>` naming the mirror and its
revision. Before: one index `hf_index/<tag>.csv` (with `<tag>.json`), and clips flat in
`hf_clips/` (shared by every mirror), then flat in `hf_clips/<tag>/` (not per shard
version). Nothing reads those any more, and what they hold cannot be placed in the new
layout with certainty (which mirror, which version of the shard), so they are deleted: only
files matching those names exactly, never a folder or anything else found there.
"""
from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

_TAG = r"[0-9a-f]{16}"
_CLIP = r"[A-Za-z0-9_-]{11}\.(?:flac|wav|mp3|ogg|opus|m4a|aac|webm)"
_TEMP = r"(?:\.\d+)?\.partial"              # the temporaries those versions named so
OLD_INDEX = re.compile(rf"{_TAG}\.(?:csv|json)(?:{_TEMP})?|\.{_TAG}\.json\.partial")
OLD_CLIP = re.compile(rf"{_CLIP}(?:{_TEMP})?")


def tag(mirror_name: str) -> str:
    return hashlib.sha256(mirror_name.encode()).hexdigest()[:16]


def index_path(download_dir: str | Path, mirror) -> Path:
    """The folder of this mirror's (and revision's) index: one file per shard."""
    return Path(download_dir).expanduser() / "audioset" / "hf_index" / tag(mirror.name)


def clips_folder(download_dir: str | Path, mirror) -> Path:
    """Where the clips written from this mirror (and revision) are kept: one folder each,
    so that switching mirrors never takes another mirror's bytes for a clip."""
    return Path(download_dir).expanduser() / "audioset" / "hf_clips" / tag(mirror.name)


def old_layout_files(download_dir: str | Path) -> list[Path]:
    """The files of the earlier layouts (module doc) under `download_dir`, by their names."""
    root = Path(download_dir).expanduser() / "audioset"
    index, clips = root / "hf_index", root / "hf_clips"

    def files(folder: Path, pattern: re.Pattern) -> list[Path]:
        if not folder.is_dir():
            return []
        return [p for p in folder.iterdir() if pattern.fullmatch(p.name) and p.is_file() and not p.is_symlink()]
    tagged = [d for d in clips.iterdir() if re.fullmatch(_TAG, d.name) and d.is_dir()] if clips.is_dir() else []
    return sorted(files(index, OLD_INDEX) + files(clips, OLD_CLIP) + [p for d in tagged for p in files(d, OLD_CLIP)])


def remove_old_layouts(download_dir: str | Path) -> int:
    """Delete the earlier layouts' files (old_layout_files), saying so in one line; their count."""
    old = old_layout_files(download_dir)
    freed = 0
    for path in old:
        try:
            freed += path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            pass                        # another worker removed it first
    if old:
        print(f"{Path(download_dir).expanduser() / 'audioset'}: removed {len(old)} files ({freed / 1e6:.1f} MB) "
              f"of the mirror's earlier layout (hf_index/<tag>.csv, clips flat in hf_clips/): the index and "
              f"clips are now kept per shard and rebuilt as needed", file=sys.stderr)
    return len(old)
