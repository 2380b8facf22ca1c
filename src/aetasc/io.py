"""Small file helpers shared by the stages: nothing half-written ever looks complete."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_dir(target: str | Path):
    """Yield a fresh sibling folder; it replaces `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.partial"):   # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    tmp.chmod(0o755)   # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


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
    """Write JSON through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(obj, indent=indent, sort_keys=False) + "\n")
    os.replace(tmp, path)


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
