"""Small file helpers shared by the stages: nothing half-written ever looks complete."""
from __future__ import annotations

import contextlib
import errno
import functools
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import uuid
from pathlib import Path


def partial_path(path: str | Path) -> Path:
    """A temporary sibling of `path` that no other process or thread uses,
    `.{name}.{machine id}-{pid}-{token}.partial`: unique, and it names its owner, so that a
    cleaner deletes only what a dead process left (remove_dead_partials)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{machine_id()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")


_PARTIAL = re.compile(r"\.(?P<of>.+)\.(?P<machine>[0-9a-f]{16})-(?P<pid>\d+)-[0-9a-f]{8}\.partial")
_OLD_PARTIAL = re.compile(r"[a-z0-9_]{8}")     # tempfile.mkdtemp's names, before partial_path


def remove_dead_partials(path: str | Path) -> None:
    """Delete the temporaries of `path` (partial_path's) whose process died on this machine.
    A live process's are left, and so are those of another machine sharing the folder (whose
    pid cannot be checked here) and an older version's (named by no owner): each of those
    gets a line saying so, for the user to delete once nothing writes `path`."""
    path = Path(path)
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        m = _PARTIAL.fullmatch(leftover.name)
        middle = leftover.name[len(path.name) + 2:-len(".partial")]
        if (m["of"] != path.name) if m else not _OLD_PARTIAL.fullmatch(middle):
            continue                    # another file's temporary (`.{name}.json.partial`, say)
        if m is None or m["machine"] != machine_id():
            print(f"{leftover}: left by a process of another machine or an older version, which cannot be "
                  f"checked from here; delete it once nothing writes {path.name}", file=sys.stderr)
        else:
            _remove_if_dead(leftover, int(m["pid"]))


def remove_dead_partials_in(folder: str | Path) -> None:
    """remove_dead_partials for every file of `folder` at once (one listing, not one a file):
    the temporaries partial_path named whose process died on this machine."""
    folder = Path(folder)
    if folder.is_dir():
        for leftover in folder.glob(".*.partial"):
            m = _PARTIAL.fullmatch(leftover.name)
            if m is not None and m["machine"] == machine_id():
                _remove_if_dead(leftover, int(m["pid"]))


def _remove_if_dead(leftover: Path, pid: int) -> None:
    if process_alive(pid):
        return
    if leftover.is_dir() and not leftover.is_symlink():
        shutil.rmtree(leftover, ignore_errors=True)
    else:
        leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(target: str | Path):
    """Yield a fresh sibling folder; it replaces `target` only if the block succeeds.
    Another process building the same target keeps its own folder (the last to finish wins,
    whole); folders left by dead processes are deleted first."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_partials(target)
    tmp = partial_path(target)
    tmp.mkdir()
    tmp.chmod(0o755)    # an ordinary folder whatever the umask, as the result is
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for attempt in range(3):
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
            return
        except OSError as err:          # another process put its result there in between
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST) or attempt == 2:
                shutil.rmtree(tmp, ignore_errors=True)
                raise


METRIC_DIGITS = 6   # decimals kept of every derived number written to metrics/


def round_floats(obj, digits: int = METRIC_DIGITS):
    """obj with every float rounded to `digits` decimals: a difference in the last bits of
    a library's arithmetic must not change a committed metrics file."""
    if isinstance(obj, float):
        return round(obj, digits) + 0.0          # + 0.0: no -0.0
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, digits) for v in obj]
    return obj


def percent(fraction: float, digits: int = METRIC_DIGITS - 2) -> float:
    """A fraction in %, keeping the decimals round_floats keeps of the fraction (or fewer)."""
    return round(100.0 * fraction, digits) + 0.0


def write_json(path: str | Path, obj, indent: int = 2) -> None:
    """Write JSON through a temporary file of this process and thread and an atomic rename
    (concurrent writers of one file each replace it whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        tmp.write_text(json.dumps(obj, indent=indent, sort_keys=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (has the stage that writes it run?)")
    return json.loads(path.read_text())


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in chunks (hashlib.file_digest is Python 3.11+)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


_MACHINE_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


@functools.lru_cache(maxsize=1)
def machine_id() -> str:
    """Who can check this process's pid: the machine (systemd's machine-id; the hostname only
    where there is none), its boot and its pid namespace. Containers sharing a hostname, or an
    image's machine-id, have pid namespaces of their own, and a reboot reuses pids: a pid is
    only ever looked up where it names the same process."""
    def first_line(path: str) -> str:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return Path(path).read_text().strip()
        return ""
    machine = next((m for m in map(first_line, _MACHINE_FILES) if m), "") or f"host:{socket.gethostname()}"
    boot = first_line("/proc/sys/kernel/random/boot_id")
    try:
        pid_namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        pid_namespace = ""
    return hashlib.sha256(f"{machine}/{boot}/{pid_namespace}".encode()).hexdigest()[:16]


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live process here (one we may not signal is alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
