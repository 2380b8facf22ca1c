"""HTTP downloads that survive flaky links, and archive extraction that cannot escape.

A download goes to `<name>.part`, resumes it with an HTTP Range request after a cut
connection, retries connection errors, 5xx and 429 with exponential back-off, and is
renamed to `<name>` only once its md5 matches: a file under its final name is complete.
`<name>.part` keeps one name, so that a rerun resumes it; workers sharing a download folder
take turns on each file through a lock the file system arbitrates (flock on `.<name>.lock`,
released when its holder exits or dies, so none is ever stale): the second waits, saying
who holds it, then finds the file complete. Only the standard library is used (urllib), so
http(s):// and file:// URLs both work.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import http.client
import json
import os
import socket
import re
import shutil
import stat
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.error import HTTPError, URLError
from urllib.request import HTTPRedirectHandler, Request, build_opener

from aetasc.progress import bar as progress_bar
from aetasc.errors import AetascError
from aetasc.io import machine_id

CHUNK = 1 << 20
USER_AGENT = "aetasc/0.1 (python-urllib)"


class _FollowRedirects(HTTPRedirectHandler):
    """Every redirect a GET may get, 308 (Permanent Redirect) too, which urllib follows only
    from Python 3.11. The Range header of a resume goes along."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return super().redirect_request(req, fp, 307 if code == 308 else code, msg, headers, newurl)

    http_error_308 = HTTPRedirectHandler.http_error_307


_OPENER = build_opener(_FollowRedirects)


class DownloadError(AetascError, RuntimeError):
    """A file could not be fetched: the message names the URL and the last error."""


class ChecksumError(DownloadError):
    """A file kept arriving with the wrong md5."""


class ArchiveError(AetascError, ValueError):
    """An archive is unreadable or holds members that would land outside the target."""


@dataclass(frozen=True)
class Retry:
    """How hard to try one file: `attempts` tries, waiting `backoff` * 2**n seconds between."""
    attempts: int = 5
    backoff: float = 2.0
    max_delay: float = 120.0
    timeout: float = 60.0       # seconds without data before a connection counts as dead

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        wait = min(self.max_delay, self.backoff * 2 ** (failures - 1))
        # A server's Retry-After (429, 503) is honoured, within the same ceiling.
        return max(wait, min(retry_after or 0.0, self.max_delay))


class _Transient(Exception):
    """A failure worth retrying (connection lost, 5xx, 429)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


# ------------------------------------------------------------------------------ digests

def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    h = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def is_verified(path: str | Path, md5: str, size: int | None = None) -> bool:
    """True if the file exists with the expected size (checked first: cheap) and md5."""
    path = Path(path)
    if not path.is_file() or (size is not None and path.stat().st_size != size):
        return False
    return file_digest(path, "md5") == md5


# ----------------------------------------------------------------------------- download

def download(url: str, dest: str | Path, *, md5: str | None = None, size: int | None = None,
             retry: Retry = Retry(), progress: bool = True, check=None) -> Path:
    """Fetch `url` to `dest`; return `dest`.

    An existing `dest` is kept if it verifies (without an md5, its final name is the proof:
    only complete transfers get it). A wrong md5 deletes the file and downloads once more
    from scratch; a second mismatch raises ChecksumError and leaves no file under `dest`.
    `check(path)`, if given, parses the complete transfer before it gets its final name (what a
    file without a known size or md5 has as proof); whatever it raises deletes the transfer
    and propagates.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with download_lock(dest):
        return _download(url, dest, md5, size, retry, progress, check)


def _download(url: str, dest: Path, md5: str | None, size: int | None, retry: Retry, progress: bool,
              check) -> Path:
    if dest.is_file():
        if md5 is None or is_verified(dest, md5, size):
            return dest
        print(f"{dest}: does not match its md5 {md5}; downloading it again", file=sys.stderr)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    for from_scratch in (False, True):
        if from_scratch:
            part.unlink(missing_ok=True)
        _fetch(url, part, size, retry, progress)
        got = part.stat().st_size
        actual = file_digest(part, "md5") if md5 else None
        if actual == md5 and (size is None or got == size):
            if check is not None:
                try:
                    check(part)
                except BaseException:
                    part.unlink(missing_ok=True)
                    raise
            os.replace(part, dest)
            return dest
        part.unlink()
        wrong = (f"md5 mismatch: expected {md5}, got {actual}" if actual != md5
                 else f"size mismatch: expected {size} bytes, got {got}")
        if from_scratch:
            raise ChecksumError(f"{dest.name}: {wrong}, after two downloads from {url}. The file was "
                                f"deleted; if it persists, the source changed or the list is wrong.")
        print(f"{dest.name}: {wrong}; downloading again from scratch", file=sys.stderr)


LOCK_POLL_SECONDS = 1.0
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


@contextlib.contextmanager
def download_lock(dest: Path):
    """Hold `dest`'s download lock for the block (flock on `.<name>.lock` beside it): one
    worker at a time fetches, renames or deletes `dest` and its `.part`. Another worker's
    lock is waited for, once said on stderr with its owner; a dead worker holds none. The
    holder deletes the lock file before letting go, so a waiter that got the lock of a file
    no longer there locks the current one instead. On a file system without locks, says so
    and goes on unlocked."""
    lock = dest.with_name(f".{dest.name}.lock")
    announced = False
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not announced:
                        print(f"{dest}: another process ({_lock_owner(lock)}) is downloading it into "
                              f"{dest.parent}; waiting for it to finish", file=sys.stderr)
                        announced = True
                    time.sleep(LOCK_POLL_SECONDS)
        except OSError as err:
            os.close(fd)
            if err.errno not in _NO_LOCKS:
                raise
            print(f"{lock}: the file system of {dest.parent} has no file locks ({err.strerror}); downloading "
                  f"unlocked: do not let two workers share this folder", file=sys.stderr)
            fd = None
            break
        try:
            current = os.stat(lock).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)                    # its holder deleted that file: lock the one there now
    if fd is None:
        yield
        return
    try:
        owner = {"host": socket.gethostname(), "machine": machine_id(), "pid": os.getpid()}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(owner).encode())
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _lock_owner(lock: Path) -> str:
    """Who holds the lock, as it wrote itself into the file (host and pid), for the message."""
    try:
        owner = json.loads(lock.read_text())
        return f"host {owner['host']}, pid {owner['pid']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "owner not yet written"


def _fetch(url: str, part: Path, size: int | None, retry: Retry, progress: bool) -> None:
    """Fill `part` with the whole resource, resuming what it already holds.

    Only an attempt that takes the file further than any before resets the failure count, so
    `retry.attempts` bounds every loop: a server that answers each resume from byte 0 (and so
    makes the file start over) gives up after that many attempts."""
    failures = 0
    furthest = part.stat().st_size if part.exists() else 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset >= size:
            if offset == size:
                return
            part.unlink()       # longer than the file can be: start over
            offset = 0
        try:
            stated = _transfer(url, part, offset, retry.timeout, progress)
            have = part.stat().st_size if part.exists() else 0
            if size is None or have == size or stated:
                return        # complete, or complete as the server states it (download() checks)
            # without a Content-Length a transfer can end early without a trace; the size we
            # know says so: resume
            raise _Transient(f"transfer ended at {have} of {size} bytes")
        except _Transient as err:
            # An attempt that brought bytes resets the count: a long file on a link that
            # drops every few minutes still completes, a dead link gives up quickly.
            now = part.stat().st_size if part.exists() else 0
            failures = 1 if now > furthest else failures + 1
            furthest = max(furthest, now)
            if failures >= retry.attempts:
                raise DownloadError(f"{url}: gave up after {retry.attempts} attempts: {err}") from None
            wait = retry.delay(failures, err.retry_after)
            print(f"{url}: {err}; retry {failures}/{retry.attempts - 1} in {wait:.1f} s",
                  file=sys.stderr)
            time.sleep(wait)


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return _OPENER.open(Request(url, headers=headers), timeout=timeout)
    except HTTPError as err:
        err.close()
        if err.code == 429 or err.code >= 500:
            raise _Transient(f"HTTP {err.code} {err.reason}", _retry_after(err.headers)) from None
        if err.code == 416 and offset:
            return err      # the caller decides: complete already, or start over
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (URLError, OSError, http.client.HTTPException) as err:
        raise _Transient(f"{type(err).__name__}: {getattr(err, 'reason', err)}") from None


def _transfer(url: str, part: Path, offset: int, timeout: float, progress: bool) -> bool:
    """Append the resource from `offset` to `part`; True if the server stated its length
    (so the transfer is complete as far as it knows)."""
    resp = _open(url, offset, timeout)
    if isinstance(resp, HTTPError):     # 416: the range starts at or past the end
        total = _content_range(resp.headers.get("Content-Range", ""))[2]
        if total == offset:
            return True
        part.unlink()
        raise _Transient(f"HTTP 416 for bytes {offset}- (resource is {total} bytes); restarting")
    with resp:
        status = getattr(resp, "status", None)
        if status == 206:
            start, _, total = _content_range(resp.headers.get("Content-Range", ""))
            if start != offset:
                part.unlink()
                raise _Transient(f"asked for bytes {offset}-, got a range from {start}; restarting")
            mode = "ab"
        else:                           # 200 (or file://): the server sends it all again
            offset, mode = 0, "wb"
            total = _int_or_none(resp.headers.get("Content-Length"))
        expected = _int_or_none(resp.headers.get("Content-Length"))
        received = 0
        with part.open(mode) as f, progress_bar(total=total, initial=offset, unit="B", unit_scale=True,
                                         unit_divisor=1024, desc=part.name.removesuffix(".part"),
                                         disable=not progress) as bar:
            try:
                while block := resp.read(CHUNK):
                    f.write(block)
                    received += len(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as err:
                raise _Transient(f"connection lost after {offset + received} bytes: "
                                 f"{type(err).__name__}: {err}") from None
    # http.client returns b"" when a connection with a Content-Length closes early.
    if expected is not None and received < expected:
        raise _Transient(f"connection closed after {offset + received} of "
                         f"{offset + expected} bytes")
    return expected is not None


def _content_range(value: str) -> tuple[int | None, int | None, int | None]:
    """`bytes 100-199/1000` -> (100, 199, 1000); `bytes */1000` -> (None, None, 1000)."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*", value)
    if not m:
        return None, None, None
    return tuple(_int_or_none(g) for g in m.groups())


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _retry_after(headers) -> float | None:
    value = (headers or {}).get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


# ------------------------------------------------------------------------------ archives

def _member_target(root: Path, name: str, archive: Path) -> Path:
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(name).drive or ".." in posix.parts:
        raise ArchiveError(f"{archive}: member {name!r} has an absolute path or '..'; "
                           f"refusing the whole archive, nothing was extracted")
    target = (root / posix).resolve()
    if not target.is_relative_to(root):
        raise ArchiveError(f"{archive}: member {name!r} would land outside {root}; "
                           f"refusing the whole archive, nothing was extracted")
    return target


def safe_extract(archive: str | Path, target: str | Path, progress: bool = True) -> int:
    """Extract a zip into `target` after checking every member; return the member count.

    Any member with an absolute path, '..' or a path that resolves outside `target`
    (through a symlink already there, say), a symbolic-link member, or a member inside
    another member that is a file refuses the archive before anything is written.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            files = {PurePosixPath(i.filename.replace("\\", "/")) for i in members if not i.is_dir()}
            for info in members:
                if info.is_dir() and PurePosixPath(info.filename.replace("\\", "/")) in files:
                    raise ArchiveError(f"{archive}: holds {info.filename!r} both as a folder and as a file; "
                                       f"refusing the whole archive, nothing was extracted")
                _member_target(root, info.filename, archive)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; refusing "
                                       f"the whole archive, nothing was extracted")
                inside = [p for p in PurePosixPath(info.filename.replace("\\", "/")).parents if p in files]
                if inside:
                    raise ArchiveError(f"{archive}: member {info.filename!r} would be written inside "
                                       f"{str(inside[0])!r}, which the archive holds as a file; "
                                       f"refusing the whole archive, nothing was extracted")
            with progress_bar(total=sum(i.file_size for i in members), unit="B", unit_scale=True,
                      unit_divisor=1024, desc=f"extract {archive.name}", disable=not progress,
                      leave=False) as bar:
                for info in members:
                    zf.extract(info, root)
                    bar.update(info.file_size)
    except zipfile.BadZipFile as err:
        raise ArchiveError(f"{archive}: not a readable zip archive ({err})") from None
    return len(members)


# --------------------------------------------------------------------------------- links

def link_file(src: Path, dst: Path) -> str:
    """Hard-link `src` to `dst` (no extra space; DVC can cache it in place); across
    filesystems, where hard links cannot go, a symlink. Returns "hardlink" or "symlink"."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
        return "hardlink"
    except OSError:
        os.symlink(Path(src).resolve(), dst)
        return "symlink"


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Fail before a long transfer that cannot fit, rather than hours into it."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DownloadError(f"{folder}: {what} needs {needed / 1e9:.1f} GB, only "
                            f"{free / 1e9:.1f} GB free")
