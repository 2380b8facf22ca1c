"""AudioSet clips fetched from YouTube with yt-dlp, as YouTube and yt-dlp are today.

- Since yt-dlp 2025.11.12 YouTube extraction needs an external JavaScript runtime (deno is
  yt-dlp's default; node, QuickJS / QuickJS-ng and bun work when named with --js-runtimes)
  and yt-dlp-ejs (`pip install "yt-dlp[default]"`; the release binaries carry it): the
  version, yt-dlp-ejs and the runtime are checked before the first fetch, one line says
  what to install.
- yt-dlp's guidance: a session gets about 300 videos an hour, with 5-10 s between
  downloads; cookies (`ytdlp_cookies`, a Netscape cookies.txt) for anything sustained. The
  Pacer keeps both an interval and an hourly bound.
- Every clip gets an outcome with yt-dlp's exit status and the last line of its stderr:
  `present`; `missing` only for a permanent answer (private, removed, unavailable, Music
  Premium only, paid); `pending` for anything else (a timeout, a network error, an answer
  not recognised, a cut download): such a clip is retried by a later run and never
  replaced, so which clips a subset holds does not depend on when the fetch ran.
- A rate-limit answer (YouTube's "rate-limited ... for up to an hour", 429) or the bot
  check ("Sign in to confirm you're not a bot") stops the run at once, wherever it comes:
  every further request would get the same answer and prolong the limit.
- An answer not recognised (a live event to come, exit 0 with no file, a download cut
  short) is retried in MAX_TRIES runs, then recorded `missing` with "given up after N
  tries: <reason>", so the stage can finish. `python -m aetasc.data.ytdlp retry <folder>`
  asks for the given-up clips again on the next run.
- Outcomes are appended to `fetch_log.csv` beside the clips as they happen; a clip known
  missing is not asked for again, except an age-restricted one once `ytdlp_cookies` is set.
- A clip is fetched into a work folder of its own (named by the process: workers sharing
  the folder never touch each other's) and moved into place only once complete and of the
  segment's length: a timeout or a crash never leaves a partial file. yt-dlp runs in a
  process group of its own; a timeout, Ctrl-C or SIGTERM kills the whole group (ffmpeg
  with it).
"""
from __future__ import annotations

import contextlib
import csv
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from aetasc.data.audioset import Segment
from aetasc.errors import AetascError
from aetasc.io import machine_id, process_alive

SAMPLE_RATE = 32000
TIMEOUT_S = 300                 # one clip; a hung fetch must not stall the rest
MAX_TRIES = 3                   # runs with an answer not recognised before a clip is given up
GIVEN_UP = "given up after"
RETRY = "retry"                 # a log row asking for a given-up clip again
WITH_COOKIES = " (with ytdlp_cookies)"
EARLY_N = 20                    # most of the first EARLY_N fetches failing stops the run
LOG = "fetch_log.csv"
LOG_HEADER = ["ytid", "status", "exit", "reason"]
# yt-dlp's supported runtimes in its order of priority (its --js-runtimes help); deno is
# enabled by default, the others must be named. QuickJS and QuickJS-ng are both `qjs`,
# named "quickjs" (yt-dlp tells them apart). (executable, yt-dlp's name)
JS_RUNTIMES = (("deno", "deno"), ("node", "node"), ("qjs", "quickjs"), ("bun", "bun"))
# The first release that solves YouTube's JavaScript challenges with an external runtime
# and yt-dlp-ejs: older ones get ever fewer formats from YouTube.
MIN_YTDLP = (2025, 11, 12)
INSTALL_YTDLP = 'pip install -U "yt-dlp[default]" (a release binary: yt-dlp -U)'
INSTALL_JS = ('YouTube needs a JavaScript runtime for yt-dlp since 2025.11.12: install deno '
              '(https://deno.com, or pip install deno; node, QuickJS / QuickJS-ng or bun work too), '
              'and pip install -U "yt-dlp[default]"')

# yt-dlp answers for a video that is gone for good (its "ERROR: [youtube] <id>: ..." line).
PERMANENT = ("video unavailable", "private video", "has been removed", "account associated with this video",
             "copyright claim", "video is not available", "this video is unavailable",
             "not made this video available in your country", "members-only", "sign in to confirm your age",
             "only available to music premium members", "requires payment to watch")
AGE = "sign in to confirm your age"
# Answers that stop the run: the session is limited ("This content isn't available, try again
# later. The current session has been rate-limited by YouTube for up to an hour"), or the
# address is taken for a bot. Checked before PERMANENT (the first carries "Video unavailable.").
RATE_LIMIT = ("try again later", "http error 429", "too many requests", "rate-limit", "rate limit")
BOT_CHECK = ("not a bot",)
# Answers that say "not now" without stopping the run.
TRANSIENT = (*RATE_LIMIT, *BOT_CHECK, "timed out", "temporary failure", "connection reset", "http error 5",
             "unable to download api")


class YtdlpError(AetascError, RuntimeError):
    """yt-dlp cannot run here, or YouTube refuses most fetches: the message says what to do."""


@dataclass(frozen=True)
class Tools:
    ytdlp: str
    ffmpeg: str
    js_runtime: tuple[str, str]     # (yt-dlp's name, path)


@dataclass(frozen=True)
class Outcome:
    ytid: str
    status: str             # present | missing | pending | corrupt
    exit: int | None        # yt-dlp's exit status; None: killed at the timeout
    reason: str             # the last line of yt-dlp's stderr, or what was wrong with the file
    path: Path | None = None


def require_ytdlp(key: str) -> Tools:
    """yt-dlp (MIN_YTDLP or newer, with yt-dlp-ejs), ffmpeg and a JavaScript runtime yt-dlp
    supports, or one line saying what is missing and what to install."""
    found = {name: shutil.which(name) for name in ("yt-dlp", "ffmpeg")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise YtdlpError(f"{key}.ytdlp is true, but {' and '.join(missing)} not found on PATH: "
                         f"pip install -U \"yt-dlp[default]\"; ffmpeg from your package manager")
    runtime = next(((name, path) for exe, name in JS_RUNTIMES if (path := shutil.which(exe))), None)
    if runtime is None:
        raise YtdlpError(f"{key}.ytdlp is true, but no JavaScript runtime yt-dlp supports (deno, node, "
                         f"QuickJS or QuickJS-ng as qjs, bun) is on PATH. {INSTALL_JS}.")
    tools = Tools(found["yt-dlp"], found["ffmpeg"], runtime)
    problem = ytdlp_setup_problem(tools)
    if problem:
        raise YtdlpError(f"{key}.ytdlp is true, but {problem}")
    return tools


def _ask(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"({err})"
    return done.stdout + done.stderr


def ytdlp_setup_problem(tools: Tools) -> str | None:
    """What keeps this yt-dlp from fetching YouTube today, or None: its version (--version),
    then the runtime we name, which its debug header (-v) marks "(unsupported)" when too old.
    yt_dlp_ejs missing from the header's optional libraries gets a warning."""
    answer = _ask([tools.ytdlp, "--version"]).strip()
    m = re.match(r"(\d{4})\.(\d{1,2})\.(\d{1,2})", answer)
    if m is None:
        return (f"{tools.ytdlp} --version answered {answer[:200]!r}, not a yt-dlp version; "
                f"{INSTALL_YTDLP}")
    if tuple(map(int, m.groups())) < MIN_YTDLP:
        return (f"yt-dlp {answer} ({tools.ytdlp}) is older than {'.'.join(map(str, MIN_YTDLP))}, the first "
                f"that solves YouTube's JavaScript challenges: {INSTALL_YTDLP}")
    name, path = tools.js_runtime
    header = _ask([tools.ytdlp, "-v", "--ignore-config", "--no-js-runtimes", "--js-runtimes", f"{name}:{path}"])
    libraries = re.search(r"^\[debug\] Optional libraries: (.*)$", header, re.M)
    if libraries and "yt_dlp_ejs" not in libraries.group(1):
        # A warning, not a refusal: yt-dlp falls back to the solver scripts its own package
        # carries (jsc/_builtin/vendor), which a repackaged yt-dlp may lack.
        print(f"yt-dlp {answer} ({tools.ytdlp}) runs without yt-dlp-ejs (its -v lists no yt_dlp_ejs); if fetches "
              f"fail with \"Requested format is not available\", pip install -U \"yt-dlp[default]\" into "
              f"yt-dlp's own environment (the release binaries carry it)", file=sys.stderr)
    runtimes = re.search(r"^\[debug\] JS runtimes: (.*)$", header, re.M)
    if runtimes and "(unsupported)" in runtimes.group(1):
        return (f"yt-dlp {answer} finds {path} too old to use (\"JS runtimes: {runtimes.group(1)}\"): update it, "
                f"or install deno (https://deno.com, or pip install deno)")
    return None


def ytdlp_command(segment: Segment, folder: Path, tools: Tools, cookies: str | None) -> list[str]:
    """Fetch only the segment's seconds, as 32 kHz mono 16-bit WAV named <ytid>.wav."""
    name, path = tools.js_runtime
    return [tools.ytdlp, "--quiet", "--no-warnings", "--no-playlist", "--no-progress",
            "--js-runtimes", f"{name}:{path}",
            *(["--cookies", cookies] if cookies else []),
            "--format", "bestaudio/best",
            "--download-sections", f"*{segment.start:g}-{segment.end:g}",
            "--force-keyframes-at-cuts",
            "--extract-audio", "--audio-format", "wav",
            "--postprocessor-args", f"ExtractAudio:-ar {SAMPLE_RATE} -ac 1",
            "--ffmpeg-location", tools.ffmpeg,
            "--output", str(folder / f"{segment.ytid}.%(ext)s"),
            f"https://www.youtube.com/watch?v={segment.ytid}"]


def classify(exit_status: int | None, reason: str) -> str:
    """missing for a permanent answer, else pending (a failure not recognised is retried)."""
    text = reason.lower()
    if exit_status is None or any(t in text for t in TRANSIENT):
        return "pending"
    return "missing" if any(p in text for p in PERMANENT) else "pending"


def recognised(outcome: Outcome) -> bool:
    """A pending outcome whose cause is known to pass (a timeout, a rate limit, a network error);
    the others (a live event to come, no file, a cut download) count towards MAX_TRIES."""
    return outcome.exit is None or any(t in outcome.reason.lower() for t in TRANSIENT)


def stop_reason(outcome: Outcome, cookies: str | None = None) -> str | None:
    """Why this answer stops the run, with what to do; None when the run goes on."""
    text = outcome.reason.lower()
    if outcome.status != "pending" or outcome.exit is None:
        return None
    if any(t in text for t in RATE_LIMIT):
        return (f"yt-dlp stopped at {outcome.ytid}: YouTube is limiting this session ({outcome.reason!r}); "
                f"wait an hour before the next run, set ytdlp_cookies, keep ytdlp_interval_seconds at 5-10 s")
    if any(t in text for t in BOT_CHECK):
        return (f"yt-dlp stopped at {outcome.ytid}: YouTube asks this address to confirm it is not a bot "
                f"({outcome.reason!r}); "
                + (f"export ytdlp_cookies again ({cookies}: expired or rotated?)" if cookies else
                   "set ytdlp_cookies to a cookies.txt of a logged-in session")
                + ", or fetch from a residential address (datacenter addresses get this answer)")
    return None


class Pacer:
    """At least `interval` seconds between two starts, and at most `per_hour` starts in any
    hour (yt-dlp's guidance: ~300 videos an hour per session, 5-10 s apart)."""

    def __init__(self, interval: float, per_hour: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval, self.per_hour, self.clock, self.sleep = interval, per_hour, clock, sleep
        self.starts: deque[float] = deque()

    def wait(self) -> None:
        now = self.clock()
        due = self.starts[-1] + self.interval if self.starts else -math.inf
        while self.starts and self.starts[0] <= now - 3600:
            self.starts.popleft()
        if len(self.starts) >= self.per_hour:
            due = max(due, self.starts[-self.per_hour] + 3600)
        if due > now:
            self.sleep(due - now)
            now = self.clock()
        self.starts.append(now)


def _log_rows(folder: Path) -> list[Outcome]:
    path = folder / LOG
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        reader = csv.reader(f)
        if next(reader, None) != LOG_HEADER:
            raise YtdlpError(f"{path}: header must be {','.join(LOG_HEADER)}")
        return [Outcome(r[0], r[1], int(r[2]) if r[2] else None, r[3]) for r in reader if len(r) == 4]


def read_log(folder: Path) -> dict[str, Outcome]:
    """The last outcome per clip of the earlier runs."""
    return {o.ytid: o for o in _log_rows(folder)}


def unrecognised_tries(folder: Path) -> Counter:
    """Per clip, the runs whose answer was not recognised since its last retry row."""
    tries: Counter = Counter()
    for o in _log_rows(folder):
        if o.status == RETRY:
            tries.pop(o.ytid, None)
        elif o.status in ("pending", "corrupt") and not recognised(o):
            tries[o.ytid] += 1
    return tries


def retry_given_up(folder: Path) -> list[str]:
    """Ask again, on the next run, for the clips given up after MAX_TRIES: a retry row each."""
    given_up = sorted(y for y, o in read_log(folder).items() if o.status == "missing" and o.reason.startswith(GIVEN_UP))
    for y in given_up:
        _append_log(folder, Outcome(y, RETRY, None, "asked again by hand"))
    return given_up


def _append_log(folder: Path, outcome: Outcome) -> None:
    path = folder / LOG
    new = not path.is_file()
    with path.open("a", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if new:
            w.writerow(LOG_HEADER)
        w.writerow([outcome.ytid, outcome.status, "" if outcome.exit is None else outcome.exit, outcome.reason])


WORK = ".fetching-"      # .fetching-<ytid>.<machine>-<pid>.<random>/: one per fetch, per process


def work_folder(folder: Path, ytid: str) -> Path:
    """A fresh work folder for one fetch, named by this process (machine id and pid), so that
    two workers sharing the clips folder never touch each other's, and the leftovers of a
    worker killed outright can be told from a live one's (clear_dead_work_folders)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{WORK}{ytid}.{machine_id()}-{os.getpid()}.", dir=folder))


def clear_dead_work_folders(folder: Path) -> None:
    """Remove the work folders of processes of this machine that are gone (SIGKILL, a power
    cut: nothing else leaves one); those of live workers and of other machines are kept."""
    for path in folder.glob(f"{WORK}*"):
        owner = path.name.split(".")[2] if path.name.count(".") >= 3 else ""
        machine, _, pid = owner.rpartition("-")
        if machine == machine_id() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM (a scheduler, `kill`, DVC's queue) raises SystemExit in the block, as Ctrl-C
    raises KeyboardInterrupt, so that the running fetch stops its yt-dlp group on the way out;
    by default SIGTERM ends Python at once and leaves yt-dlp, in its own session, running."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)
    try:
        previous = signal.signal(signal.SIGTERM, stop) if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else None
    except ValueError:          # not the main thread: signals are the main thread's business
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_group(proc: subprocess.Popen) -> None:
    """Kill yt-dlp's whole process group (its ffmpeg too) and reap yt-dlp."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def fetch_one(segment: Segment, folder: Path, tools: Tools, cookies: str | None, timeout: float,
              check: Callable[[Path, Segment], str | None]) -> Outcome:
    """One clip into `folder`/<ytid>.wav, via a work folder of its own: nothing partial is left."""
    work = work_folder(folder, segment.ytid)
    try:
        # a session of its own, so that a timeout kills ffmpeg with yt-dlp
        proc = subprocess.Popen(ytdlp_command(segment, work, tools, cookies), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            return Outcome(segment.ytid, "pending", None, f"timed out after {timeout:g} s")
        except BaseException:   # Ctrl-C, SIGTERM (_sigterm_raises), anything: the group goes with us
            _stop_group(proc)
            raise
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        clip = work / f"{segment.ytid}.wav"
        if proc.returncode != 0 or not clip.is_file():
            reason = last or ("exit 0 but no file written" if proc.returncode == 0 else "no message")
            return Outcome(segment.ytid, classify(proc.returncode, reason), proc.returncode, reason)
        problem = check(clip, segment)
        if problem:     # a cut download says nothing permanent: retried, MAX_TRIES at most
            return Outcome(segment.ytid, "pending", proc.returncode, problem)
        final = folder / clip.name
        os.replace(clip, final)
        return Outcome(segment.ytid, "present", 0, last, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch_with_ytdlp(segments: list[Segment], folder: Path, tools: Tools, pacer: Pacer, cookies: str | None,
                     check: Callable[[Path, Segment], str | None], timeout: float = TIMEOUT_S,
                     progress: bool = True) -> dict[str, Outcome]:
    """The outcome of every segment: clips already fetched or known missing are not asked for
    again (an age-restricted one is, once cookies are set); the others are fetched one at a
    time at the pacer's rate. Raises YtdlpError at a rate-limit or bot-check answer, and when
    more than half of the first EARLY_N fetches fail (the outcomes so far are kept)."""
    from aetasc.progress import bar
    if cookies:
        cookie_file = Path(cookies).expanduser()
        if not cookie_file.is_file() or not os.access(cookie_file, os.R_OK):
            # yt-dlp itself silently skips a cookies file it cannot read
            raise YtdlpError(f"ytdlp_cookies = {cookies}: no such file, or not readable (a Netscape cookies.txt "
                             f"exported from a logged-in browser session; mistyped path?)")
        cookies = str(cookie_file)
    folder.mkdir(parents=True, exist_ok=True)
    clear_dead_work_folders(folder)
    known = read_log(folder)
    tries = unrecognised_tries(folder)
    outcomes, todo = {}, []
    for s in segments:
        done = folder / f"{s.ytid}.wav"
        last = known.get(s.ytid)
        if done.is_file():
            outcomes[s.ytid] = Outcome(s.ytid, "present", 0, "", done)
        elif last and last.status == "missing" and not (
                cookies and AGE in last.reason.lower() and WITH_COOKIES not in last.reason):
            outcomes[s.ytid] = last
        else:
            todo.append(s)
    with _sigterm_raises():
        tried = []
        for s in bar(todo, desc="yt-dlp", disable=not progress):
            pacer.wait()
            outcome = fetch_one(s, folder, tools, cookies, timeout, check)
            if outcome.status == "missing" and cookies and AGE in outcome.reason.lower():
                outcome = replace(outcome, reason=outcome.reason + WITH_COOKIES)
            if outcome.status == "pending" and not recognised(outcome):
                tries[s.ytid] += 1
                if tries[s.ytid] >= MAX_TRIES:
                    outcome = replace(outcome, status="missing",
                                      reason=f"{GIVEN_UP} {tries[s.ytid]} tries: {outcome.reason}")
            _append_log(folder, outcome)
            outcomes[s.ytid] = outcome
            tried.append(outcome)
            stop = stop_reason(outcome, cookies)
            if stop:
                raise YtdlpError(f"{stop}. Outcomes so far: {folder / LOG}")
            if len(tried) == EARLY_N and sum(o.status != "present" for o in tried) > EARLY_N // 2:
                raise YtdlpError(_early_stop(tried, folder))
    return outcomes


def _early_stop(tried: list[Outcome], folder: Path) -> str:
    failed = [o for o in tried if o.status != "present"]
    common = Counter(o.reason for o in failed).most_common(2)
    hint = ("YouTube is limiting this session: wait an hour, set ytdlp_cookies, keep "
            "ytdlp_interval_seconds at 5-10 s" if any(t in r.lower() for r, _ in common for t in TRANSIENT)
            else "check the yt-dlp setup with one of these ids by hand")
    return (f"yt-dlp: {len(failed)} of the first {len(tried)} fetches failed, stopping; most often: "
            + "; ".join(f"{n} x {r!r}" for r, n in common) + f". {hint}. Outcomes so far: {folder / LOG}")


def main(argv: list[str] | None = None) -> int:
    """`python -m aetasc.data.ytdlp retry <clips folder>`: the clips given up after MAX_TRIES
    (their reason starts "given up after") are asked for again by the next run."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m aetasc.data.ytdlp")
    sub = parser.add_subparsers(dest="command", required=True)
    retry = sub.add_parser("retry", help="ask again for the clips given up after an answer not recognised")
    retry.add_argument("folder", type=Path, help=f"the yt-dlp clips folder (holding {LOG})")
    args = parser.parse_args(argv)
    if not (args.folder / LOG).is_file():
        print(f"{args.folder}: no {LOG} here (the yt-dlp clips folder is <download_dir>/audioset/clips)")
        return 1
    ytids = retry_given_up(args.folder)
    print(f"{len(ytids)} given-up clips will be asked for again by the next run"
          + (f": {', '.join(ytids[:10])}" + (" ..." if len(ytids) > 10 else "") if ytids else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
