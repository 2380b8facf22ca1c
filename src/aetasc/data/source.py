"""What acquiring the paper's data sets shares: the error that says what to fetch or to
set, the params key those messages name, the manifest every acquired data set carries, and
the download retry policy.

`tut2018_source` acquires TUT Urban Acoustic Scenes 2018 (development) and
`audioset_source` AudioSet, each into the layout that `tut2018.read_tut2018` or
`audioset.read_audioset` reads, the layouts the synthetic world writes, so nothing
downstream knows which world it runs on. Downloads are kept in `sources.download_dir`
between runs (DVC deletes a stage's outputs before running it; the downloads must not go
with them). Large local data is hard-linked into the output, or symlinked across
filesystems, never copied.
"""
from __future__ import annotations

from pathlib import Path

from aetasc.config import PaperSources
from aetasc.data.download import Retry
from aetasc.errors import AetascError

KEY = "worlds.paper.source"
MANIFEST = "manifest.json"


class SourceError(AetascError, RuntimeError):
    """The data is not where the params say; the message says what to fetch or to set."""


def retry_policy(sources: PaperSources) -> Retry:
    return Retry(attempts=sources.download_attempts, backoff=sources.download_backoff_seconds)


def download_root(sources: PaperSources) -> Path:
    """`sources.download_dir`, with `~` the home folder (not a folder named ~)."""
    return Path(sources.download_dir).expanduser()
