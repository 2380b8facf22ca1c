"""The run store: one folder per run, named by its fingerprint, shared by every process.

Where it is: `$AETASC_RUN_STORE` if set (absolute paths allowed: a shared filesystem for
torchrun ranks on several machines), else `data/runs` of the workspace. A queued DVC
experiment runs in a copy of the workspace under `<workspace>/.dvc/tmp/exps/`; its default
store is the workspace's, so queued experiments reuse what the workspace trained, and the
other way round.

Claims: a process about to train a run first creates `claim.json` in its folder, atomically
(O_EXCL), with its machine id and pid, and keeps touching it while it trains. Another
process that wants the same run waits until the result appears, then reuses it. A claim
whose owner died is taken over: its pid is gone where that pid can be checked (the same
machine id: machine, boot and pid namespace, never the hostname, which containers share), or
it was not touched for STALE_SECONDS by the store's own clock (a file touched beside it, then
stat'ed: on NFS both mtimes come from the server). One taker per stale claim (_take_over). So
two queue workers, two figure stages or two torchrun ranks never train one run twice, and
torchrun ranks can take runs first come, first served. What the store needs from its file
system: docs/run_store.md.

Housekeeping (stages/run_store.py) owns only what the store made: every entry carries a
marker (ENTRY) written when the store creates it, and a stage using the store registers
itself (running_stage), so an entry claimed, or used or finished since the oldest running
stage began, is never removed. docs/run_store.md states the rules.

Results: a finished run's result.json carries a digest of the rest of itself and, when its
checkpoint is kept, the checkpoint's sha256. read_result reuses a result only if both check
out; anything damaged is reported by path and set aside (`.bad`), and the run trains again.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

from aetasc.errors import AetascError
from aetasc.io import machine_id, process_alive, write_json
from aetasc.training.checkpoints import CHECKPOINT, CheckpointError, checkpoint_sha256, load_checkpoint
from aetasc.training.spec import RunSpec

ENV = "AETASC_RUN_STORE"
RESULT = "result.json"
CLAIM = "claim.json"
CLOCK = CLAIM + ".clock"        # touched to read the store's clock (_store_now); named so last_used skips it
HEARTBEAT_SECONDS = 20.0
STALE_SECONDS = 300.0
POLL_SECONDS = 2.0


ENTRY = "store-entry.json"      # the marker of a run entry: housekeeping touches nothing else
STAGES = ".stages"              # one file per running stage (running_stage)
PROCESS = uuid.uuid4().hex      # this process, in the results it trains ("trained_by")


def workspace(cwd: str | Path | None = None) -> Path:
    """The workspace a command runs for: a queued or temporary DVC experiment runs in a copy
    under <workspace>/.dvc/tmp/exps/ and belongs to the workspace that queued it."""
    here = Path(cwd or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return here


def default_store(cwd: str | Path | None = None) -> Path:
    """$AETASC_RUN_STORE, else <workspace>/data/runs. A relative $AETASC_RUN_STORE is taken
    relative to the workspace (the one that queued an experiment), never to an experiment's
    temporary copy, which DVC deletes with everything in it."""
    if os.environ.get(ENV):
        return workspace(cwd) / Path(os.environ[ENV]).expanduser()
    return workspace(cwd) / "data" / "runs"


class Busy(RuntimeError):
    """Another live process holds the claim on this run."""


class StoreError(AetascError, ValueError):
    """Housekeeping refused to delete a folder: the message names it and why."""


def _owner() -> dict:
    return {"host": socket.gethostname(), "machine": machine_id(), "pid": os.getpid(),
            "token": uuid.uuid4().hex, "since": time.time()}


def _read_claim(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _store_now(folder: Path | None) -> float:
    """The time by the clock that stamps the store's files (on NFS, the server's): touch a
    file beside the ones judged and read its mtime back, so an age is a difference of two
    mtimes from one clock. Our own clock where the folder cannot be written."""
    if folder is not None:
        probe = folder / CLOCK
        with contextlib.suppress(OSError):
            probe.touch()
            os.utime(probe)             # touch does not update an existing file's mtime on every OS
            return probe.stat().st_mtime
    return time.time()


def _is_stale(path: Path, owner: dict | None = None) -> bool:
    """Whether the claim (or stage registration) at `path`, as read into `owner` before this
    call, belongs to no live process: its owner's pid is gone where that pid can be checked
    (same machine_id), or it was not touched for STALE_SECONDS by the store's clock."""
    try:
        touched = path.stat().st_mtime
    except FileNotFoundError:
        return False
    if owner is not None and owner.get("machine") == machine_id():
        with contextlib.suppress(KeyError, ValueError, TypeError):
            if not process_alive(int(owner["pid"])):
                return True
    return _store_now(path.parent) - touched > STALE_SECONDS


def _try_create(path: Path) -> dict | None:
    """A claim of this process written whole to `path`, created exclusively; None if it exists."""
    owner = _owner()
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w") as f:
        json.dump(owner, f)
    return owner


def _take_over(path: Path, stale: dict | None) -> dict | None:
    """Replace the stale claim `stale` (as read when it was judged) by ours; None if another
    process got there first. One taker per stale claim: each writes its claim to a file
    named after the stale claim's token, created exclusively, and checks, while it holds that
    file, that the claim is still the stale one before renaming its file over it (an atomic
    replace: the claim never disappears in between, so no third process can create one). A
    taker that arrives later finds another token and steps aside. A taker that died holding
    the file makes it stale in turn; the next taker then uses the next name."""
    token = (stale or {}).get("token", "none")
    for attempt in itertools.count(1):
        mine = path.with_name(f"{CLAIM}.taking-{token}-{attempt}")
        owner = _try_create(mine)
        if owner is not None:
            break
        if not _is_stale(mine, _read_claim(mine)):
            return None                  # a live process is taking it over
    try:
        current = _read_claim(path)
        if (current or {}).get("token", "none") != token or not _is_stale(path, current):
            return None                  # already taken over, released, or claimed afresh
        os.replace(mine, path)
    finally:
        mine.unlink(missing_ok=True)
    for leftover in path.parent.glob(f"{CLAIM}.taking-{token}-*"):
        leftover.unlink(missing_ok=True)
    return owner


@contextlib.contextmanager
def _heartbeat(path: Path, name: str):
    """Touch `path` every HEARTBEAT_SECONDS while the block runs: a live owner's file never
    looks stale (_is_stale) to another process."""
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError):
                os.utime(path)

    heart = threading.Thread(target=beat, daemon=True, name=name)
    heart.start()
    try:
        yield
    finally:
        stop.set()
        heart.join()


@contextlib.contextmanager
def claim(run_dir: str | Path, wait: bool = True, is_done=lambda: False):
    """Hold the run's claim for the block; yields True if this process holds it, False if the
    run became done (is_done()) while waiting for another process's claim. With wait=False,
    raises Busy instead of waiting."""
    run_dir = Path(run_dir)
    mark_entry(run_dir)
    path = run_dir / CLAIM
    announced = False
    while True:
        owner = _try_create(path)
        if owner is None:
            held = _read_claim(path)     # read before it is judged: the take-over replaces only this one
            if _is_stale(path, held):
                owner = _take_over(path, held)
        if owner is not None:
            break
        if is_done():
            yield False
            return
        if not wait:
            raise Busy(f"{run_dir}: claimed by {_read_claim(path)}")
        if not announced:
            print(f"{run_dir.name}: another process is training this run "
                  f"({_read_claim(path)}); waiting for its result", file=sys.stderr)
            announced = True
        time.sleep(POLL_SECONDS)
    try:
        with _heartbeat(path, f"claim-{run_dir.name}"):
            yield True
    finally:
        if (_read_claim(path) or {}).get("token") == owner["token"]:
            path.unlink(missing_ok=True)


def is_claimed(run_dir: str | Path) -> bool:
    path = Path(run_dir) / CLAIM
    return path.is_file() and not _is_stale(path, _read_claim(path))


def mark_entry(run_dir: Path) -> None:
    """Create a run's folder with the marker that makes it a store entry."""
    run_dir.mkdir(parents=True, exist_ok=True)
    marker = run_dir / ENTRY
    if not marker.is_file():
        marker.write_text(json.dumps({"entry": run_dir.name, "created": time.time()}) + "\n")


def mark_used(run_dir: Path) -> None:
    """A run's result was just reused: housekeeping keeps it while the stage using it runs."""
    with contextlib.suppress(OSError):
        os.utime(Path(run_dir) / ENTRY)


def is_entry(path: Path) -> bool:
    """A folder the store made (a symlink never is one: what it points at is not the store's)."""
    return not path.is_symlink() and path.is_dir() and (path / ENTRY).is_file()


def last_used(entry: Path) -> float:
    """When the entry was last created, trained, finished or reused: its files' newest mtime
    (claims left out: housekeeping claims an entry to delete it)."""
    times = [0.0]
    for p in entry.iterdir():
        if not p.name.startswith(CLAIM):
            with contextlib.suppress(OSError):
                times.append(p.stat().st_mtime)
    return max(times)


@contextlib.contextmanager
def running_stage(store: str | Path, what: str):
    """Register this process as a stage using the store for the block (heartbeat like a
    claim): housekeeping then keeps every entry used since it began."""
    folder = Path(store) / STAGES
    made = [p for p in (Path(store), folder) if not p.exists()]     # removed again if left empty
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{machine_id()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    # `since` by the store's clock: it is compared with the mtimes of the entries (last_used)
    path.write_text(json.dumps({**_owner(), "since": _store_now(folder), "what": what}) + "\n")
    try:
        with _heartbeat(path, f"stage-{what}"):
            yield
    finally:
        path.unlink(missing_ok=True)
        if made:
            (folder / CLOCK).unlink(missing_ok=True)
        for p in reversed(made):
            with contextlib.suppress(OSError):
                p.rmdir()


def running_stages(store: str | Path) -> list[dict]:
    """The live stages registered in the store (a dead one's file is removed)."""
    folder = Path(store) / STAGES
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        owner = _read_claim(path)
        if _is_stale(path, owner):
            path.unlink(missing_ok=True)
            continue
        if owner is not None:
            out.append(owner)
    return out


def folder_bytes(path: Path) -> int:
    """The bytes of the files in a folder, symlinks not followed (what deleting it frees)."""
    if path.is_symlink():
        return 0
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def entries(store: Path) -> list[Path]:
    """Every folder of the store and every symlink in it, run entries or not (see is_entry);
    its own folders left out."""
    store = Path(store)
    return sorted(p for p in store.iterdir() if (p.is_dir() or p.is_symlink()) and not p.name.startswith(".")) \
        if store.is_dir() else []


def remove(entry: Path, used_before: float) -> bool:
    """Delete a run entry unless it is claimed, or was used at or after `used_before` or since
    the oldest stage running now began; True if deleted. Both are checked again right before
    the deletion, with the entry claimed (so no process starts on it meanwhile): a stage may
    have started since the caller listed the running ones (while it asked, say)."""
    entry = Path(entry)
    if entry.is_symlink():
        raise StoreError(f"{entry}: a symbolic link (to {os.readlink(entry)}), not a run entry the store "
                         f"made; refusing to delete it or what it points at")
    if not is_entry(entry):
        raise StoreError(f"{entry}: not a run entry ({ENTRY} missing); refusing to delete it")
    try:
        with claim(entry, wait=False):
            since = min((s["since"] for s in running_stages(entry.parent)), default=float("inf"))
            if last_used(entry) >= min(used_before, since):
                return False
            shutil.rmtree(entry)
    except Busy:
        return False
    return True


# ------------------------------------------------------------------------------ results

def result_digest(result: dict) -> str:
    """The digest a result.json carries of the rest of itself (JSON floats round-trip exactly)."""
    body = {k: v for k, v in result.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_result(run_dir: Path, result: dict) -> dict:
    """A finished run's result.json, with the digest read_result checks; returns the result."""
    result = {**result, "digest": result_digest(result)}
    write_json(run_dir / RESULT, result)
    return result


def read_result(run_dir: str | Path, spec: RunSpec) -> dict | None:
    """The result of a finished run with these settings, or None. A result.json that is
    unreadable or does not match the digest it carries (edited, damaged, of an older format),
    or whose kept checkpoint does not match the digest recorded of it, is reported by path and
    set aside (with the checkpoint): the run is trained again, never reused."""
    run_dir = Path(run_dir)
    path = run_dir / RESULT
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
        if not isinstance(result, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        _set_aside(path, f"unreadable ({err})")
        return None
    if result.get("fingerprint") != spec.fingerprint():
        return None
    if result.get("digest") != result_digest(result):
        _set_aside(path, "its content does not match the digest it carries (edited, damaged, or "
                         "written by an older version)")
        return None
    ckpt = run_dir / CHECKPOINT
    expected = result.get("checkpoint_sha256")
    if expected and ckpt.is_file() and checkpoint_sha256(ckpt) != expected:
        _set_aside(ckpt, "does not match the digest its result.json records (damaged)")
        _set_aside(path, "its checkpoint was damaged")
        return None
    mark_used(run_dir)
    return result


def readable_checkpoint(run_dir: Path, spec: RunSpec) -> dict | None:
    """The run's last checkpoint, to resume from, or None; a damaged one is reported by path
    and set aside."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as err:    # cut short, a flipped bit, unpickling refused: all the same here
        _set_aside(path, f"unreadable checkpoint ({err})")
        return None
    return ckpt if isinstance(ckpt, dict) and ckpt.get("fingerprint") == spec.fingerprint() else None


def _set_aside(path: Path, why: str) -> None:
    print(f"{path}: {why}; set aside as {path.name}.bad, the run is trained again", file=sys.stderr)
    os.replace(path, path.with_name(path.name + ".bad"))
