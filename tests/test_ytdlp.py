"""yt-dlp as YouTube answers today, simulated by a stub executable that prints and exits as
yt-dlp does: a removed video, the session rate limit, HTTP 429, a hang, a cut download."""
import contextlib
import csv
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from aetasc.data import ytdlp
from aetasc.data.audioset import Segment, read_availability, read_audioset
from aetasc.data.audioset_source import acquire_audioset, clip_problem
from aetasc.data.source import SourceError
from test_paper_world import YTIDS, audioset_sources, make_audioset_tables, serve_dir

TESTS = Path(__file__).resolve().parent

# What yt-dlp prints last on stderr (its "ERROR:" line, after warnings), exit status 1.
ANSWERS = {
    "removed": "ERROR: [youtube] {id}: Video unavailable. This video has been removed by the uploader",
    "private": "ERROR: [youtube] {id}: Private video. Sign in if you've been granted access to this video",
    "ratelimit": "ERROR: [youtube] {id}: Video unavailable. This content isn't available, try again later.",
    "429": "ERROR: unable to download video data: HTTP Error 429: Too Many Requests",
    # the session rate limit as yt-dlp prints it today, after the playability reason
    "hourlimit": ("ERROR: [youtube] {id}: Video unavailable. This content isn't available, try again later. "
                  "The current session has been rate-limited by YouTube for up to an hour. It is recommended "
                  "to use `-t sleep` to add a delay between video requests to avoid exceeding the rate limit. "
                  "For more information, refer to "
                  "https://github.com/yt-dlp/yt-dlp/wiki/Extractors#this-content-isnt-available-try-again-later"),
    "bot": ("ERROR: [youtube] {id}: Sign in to confirm you\u2019re not a bot. Use --cookies-from-browser or "
            "--cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-"
            "cookies-to-yt-dlp  for how to manually pass cookies."),
    "premium": "ERROR: [youtube] {id}: Video unavailable. This video is only available to Music Premium members",
    "premium_bare": "ERROR: [youtube] {id}: This video is only available to Music Premium members",
    "payment": "ERROR: [youtube] {id}: This video requires payment to watch.",
    "age": ("ERROR: [youtube] {id}: Sign in to confirm your age. This video may be inappropriate for some "
            "users. Use --cookies-from-browser or --cookies for the authentication."),
    "live": "ERROR: [youtube] {id}: This live event will begin in 3 hours.",
}

# yt-dlp 2025.11.12 installed with pip install "yt-dlp[default]", as `yt-dlp -v` lists it.
SETUP = {"version": "2025.11.12", "runtime_version": "2.5.6",
         "libraries": "Cryptodome-3.23.0, brotli-1.1.0, certifi-2025.10.05, mutagen-1.47.0, requests-2.32.5, "
                      "sqlite3-3.45.1, urllib3-2.5.0, websockets-15.0.1, yt_dlp_ejs-0.3.1"}

STUB = textwrap.dedent('''\
    #!{python}
    """yt-dlp as a test sees it: the behaviour of each video id comes from behaviour.json."""
    import json, os, sys, time
    from pathlib import Path
    import numpy as np, soundfile as sf
    here = Path(__file__).parent
    args = sys.argv[1:]
    setup = json.loads((here / "setup.json").read_text())
    if args == ["--version"]:
        print(setup["version"])
        sys.exit(0)
    if args[0] == "-v":                 # the debug header, then the error for a missing URL
        runtime = dict(zip(args, args[1:]))["--js-runtimes"].split(":")[0]
        print(f"[debug] Command-line config: {{args!r}}", file=sys.stderr)
        print(f"[debug] yt-dlp version stable@{{setup['version']}} from yt-dlp/yt-dlp [335653be8] (pip)",
              file=sys.stderr)
        print(f"[debug] Optional libraries: {{setup['libraries']}}", file=sys.stderr)
        print(f"[debug] JS runtimes: {{runtime}}-{{setup['runtime_version']}}", file=sys.stderr)
        print("Usage: yt-dlp [OPTIONS] URL [URL...]\\n\\nyt-dlp: error: You must provide at least one URL.",
              file=sys.stderr)
        sys.exit(2)
    vid = args[-1].rsplit("=", 1)[1]
    with open(here / "calls.log", "a") as f:
        f.write(vid + "\\n")
    mode = json.loads((here / "behaviour.json").read_text()).get(vid, "ok")
    opts = dict(zip(args, args[1:]))
    out = Path(opts["--output"].replace("%(ext)s", "wav"))
    start, end = (float(v) for v in opts["--download-sections"].lstrip("*").split("-"))
    print("WARNING: [youtube] a warning first, as yt-dlp often prints", file=sys.stderr)
    if mode == "ok" or mode == "short":
        seconds = (end - start) * (0.4 if mode == "short" else 1.0)
        sf.write(out, np.random.default_rng(0).standard_normal(int(32000 * seconds)) * 0.1, 32000,
                 subtype="PCM_16")
        sys.exit(0)
    if mode == "nofile":
        sys.exit(0)
    if mode == "age" and "--cookies" in opts:
        mode = "ok"
    if mode == "ok":
        sf.write(out, np.random.default_rng(0).standard_normal(int(32000 * (end - start))) * 0.1, 32000,
                 subtype="PCM_16")
        sys.exit(0)
    if mode == "slow":              # a worker still busy with its clip
        sf.write(out, np.random.default_rng(0).standard_normal(int(32000 * (end - start))) * 0.1, 32000,
                 subtype="PCM_16")
        time.sleep(2)
        sys.exit(0)
    if mode == "spawn":             # yt-dlp running ffmpeg, as it does for --download-sections
        import subprocess
        child = subprocess.Popen(["sleep", "120"])
        (here / "pids").write_text(f"{{os.getpid()}} {{child.pid}}")
        time.sleep(120)
    if mode == "hang":
        out.with_suffix(".wav.part").write_bytes(b"RIFF partial")   # what a cut download leaves
        out.write_bytes(b"RIFF")
        time.sleep(120)
    print({answers}[mode].format(id=vid), file=sys.stderr)
    sys.exit(1)
''')


@pytest.fixture
def stub(tmp_path, monkeypatch):
    """A folder on PATH holding yt-dlp (the stub), ffmpeg and deno; returns a setter of the
    behaviour per id and a reader of the ids asked for."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "yt-dlp").write_text(STUB.format(python=sys.executable, answers=json.dumps(ANSWERS)))
    for name in ("ffmpeg", "deno"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
    for p in bin_dir.iterdir():
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "behaviour.json").write_text("{}")
    (bin_dir / "setup.json").write_text(json.dumps(SETUP))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")

    class Stub:
        def set_up(self, **changes):
            (bin_dir / "setup.json").write_text(json.dumps({**SETUP, **changes}))

        def behave(self, **modes):
            (bin_dir / "behaviour.json").write_text(json.dumps(modes))

        def calls(self) -> list[str]:
            log = bin_dir / "calls.log"
            return log.read_text().split() if log.is_file() else []
    return Stub()


def segment(ytid):
    return Segment(ytid, 30.0, 40.0, ("/m/09x0r",))


def fetch(segments, folder, timeout=ytdlp.TIMEOUT_S):
    tools = ytdlp.require_ytdlp("worlds.paper.source")
    return ytdlp.fetch_with_ytdlp(segments, folder, tools, ytdlp.Pacer(0.0, 1000), None,
                                  lambda p, s: clip_problem(p, s, 28000, check_length=True), timeout=timeout, progress=False)


def test_each_answer_gets_its_status_exit_and_last_stderr_line(stub, tmp_path):
    ids = {"ok": "okokokokok1", "removed": "removedvid1", "private": "privatevid1",
           "live": "liveeventv1", "short": "shortclip01"}
    stub.behave(**{v: k for k, v in ids.items()})
    folder = tmp_path / "clips"
    out = fetch([segment(y) for y in ids.values()], folder)
    status = {k: out[y].status for k, y in ids.items()}
    assert status == {"ok": "present", "removed": "missing", "private": "missing", "live": "pending",
                      "short": "pending"}
    assert out[ids["removed"]].exit == 1
    assert out[ids["removed"]].reason == ANSWERS["removed"].format(id=ids["removed"])
    assert out[ids["short"]].reason.startswith("truncated: decodes to 4.000 s, the segment is 10.000 s")
    # only the complete clip is in the folder, beside the log
    assert sorted(p.name for p in folder.iterdir()) == ["fetch_log.csv", f"{ids['ok']}.wav"]
    with (folder / "fetch_log.csv").open() as f:
        log = list(csv.DictReader(f))
    assert {r["ytid"]: r["status"] for r in log}[ids["live"]] == "pending"
    # a rerun asks again only for what may still come: not the fetched, not the gone
    stub.behave()
    before = len(stub.calls())
    again = fetch([segment(y) for y in ids.values()], folder)
    assert sorted(stub.calls()[before:]) == sorted([ids["live"], ids["short"]])
    assert again[ids["live"]].status == "present" and again[ids["removed"]].status == "missing"


def test_a_hang_is_killed_and_leaves_no_partial_file(stub, tmp_path):
    stub.behave(hangingvid1="hang")
    folder = tmp_path / "clips"
    out = fetch([segment("hangingvid1")], folder, timeout=3)
    assert out["hangingvid1"].status == "pending" and out["hangingvid1"].exit is None
    assert out["hangingvid1"].reason == "timed out after 3 s"
    assert [p.name for p in folder.iterdir()] == ["fetch_log.csv"]


_FETCH_IN_A_PROCESS = """
import sys
sys.path.insert(0, {tests!r})
from test_ytdlp import fetch, segment
from pathlib import Path
fetch([segment("spawningvid")], Path({folder!r}))
"""


def _gone(pid: int) -> bool:
    """No such process, or a zombie (killed, waiting to be reaped by whoever inherited it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_fetch_stops_yt_dlp_and_its_children(stub, tmp_path, signum):
    """Issue 38 case 9: yt-dlp runs in a session of its own (so that a timeout can kill its
    ffmpeg with it); Ctrl-C or SIGTERM to us must reach that whole group, not leave it
    writing into the work folder."""
    stub.behave(spawningvid="spawn")
    folder = tmp_path / "clips"
    pids_file = Path(os.environ["PATH"].split(os.pathsep)[0]) / "pids"
    proc = subprocess.Popen([sys.executable, "-c", _FETCH_IN_A_PROCESS.format(tests=str(TESTS), folder=str(folder))],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not pids_file.is_file() and time.time() < deadline:
        time.sleep(0.1)
    pids = [int(p) for p in pids_file.read_text().split()]
    proc.send_signal(signum)
    proc.communicate(timeout=30)
    try:
        deadline = time.time() + 5
        while not all(map(_gone, pids)) and time.time() < deadline:
            time.sleep(0.1)
        assert all(map(_gone, pids)), "yt-dlp or its child outlived the fetch"
        assert not list(folder.glob(".fetching-*"))
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_two_workers_sharing_the_clips_folder_keep_their_own_work_folders(stub, tmp_path):
    """Issue 38 case 9: a second worker fetching the same clip into the same folder (two
    acquisitions sharing download_dir) must not delete the first one's work folder."""
    stub.behave(slowclipvid="slow")
    folder = tmp_path / "clips"
    folder.mkdir()
    tools = ytdlp.require_ytdlp("k")
    check = lambda p, s: clip_problem(p, s, 28000, check_length=True)
    outcomes = {}
    first = threading.Thread(target=lambda: outcomes.setdefault(
        "first", ytdlp.fetch_one(segment("slowclipvid"), folder, tools, None, 60, check)))
    first.start()
    deadline = time.time() + 30
    while not list(folder.glob(".fetching-*/*.wav")) and time.time() < deadline:
        time.sleep(0.05)
    outcomes["second"] = ytdlp.fetch_one(segment("slowclipvid"), folder, tools, None, 60, check)
    first.join(timeout=60)
    assert {k: o.status for k, o in outcomes.items()} == {"first": "present", "second": "present"}, outcomes
    assert [p.name for p in folder.iterdir()] == ["slowclipvid.wav"]


def test_a_dead_workers_work_folder_is_cleared_and_a_live_ones_kept(stub, tmp_path):
    """Own case: work folders left by a worker killed outright (SIGKILL, a power cut) are
    removed by the next run on that machine; another live worker's are not."""
    folder = tmp_path / "clips"
    dead, live = ytdlp.work_folder(folder, "okokokokok1"), ytdlp.work_folder(folder, "okokokokok2")
    pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                         text=True).stdout.strip()
    os.rename(dead, dead.with_name(dead.name.replace(f"-{os.getpid()}.", f"-{pid}.")))
    fetch([segment("okokokokok1")], folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(["fetch_log.csv", "okokokokok1.wav", live.name])


def test_most_of_the_first_fetches_failing_stops_early(stub, tmp_path, monkeypatch):
    monkeypatch.setattr(ytdlp, "EARLY_N", 4)
    ids = [f"liveevent{i:02d}" for i in range(10)]
    stub.behave(**{y: "live" for y in ids[1:]})
    with pytest.raises(ytdlp.YtdlpError, match="3 of the first 4 fetches failed, stopping.*"
                                                "live event.*check the yt-dlp setup"):
        fetch([segment(y) for y in ids], tmp_path / "clips")
    assert len(stub.calls()) == 4


def test_no_javascript_runtime_is_one_actionable_line(stub, monkeypatch):
    real = ytdlp.shutil.which
    monkeypatch.setattr(ytdlp.shutil, "which", lambda name: None if name in ("deno", "node", "qjs", "bun") else real(name))
    with pytest.raises(ytdlp.YtdlpError) as err:
        ytdlp.require_ytdlp("worlds.paper.source")
    assert "\n" not in str(err.value) and "install deno" in str(err.value) and "yt-dlp[default]" in str(err.value)
    monkeypatch.setattr(ytdlp.shutil, "which", lambda name: None if name == "deno" else
                        f"/x/{name}" if name in ("node", "qjs") else real(name))
    assert ytdlp.require_ytdlp("k").js_runtime == ("node", "/x/node")       # named with --js-runtimes


@pytest.mark.parametrize("runtime", ["node", "qjs", "bun"])
def test_every_runtime_yt_dlp_supports_is_found(stub, monkeypatch, runtime):
    """Issue 39 item 4: yt-dlp's list (--js-runtimes): deno, node, quickjs (QuickJS and
    QuickJS-ng, both `qjs`), bun, in that order of priority."""
    real = ytdlp.shutil.which
    monkeypatch.setattr(ytdlp.shutil, "which", lambda name: f"/x/{name}" if name == runtime else
                        None if name in ("deno", "node", "qjs", "bun") else real(name))
    name = {"qjs": "quickjs"}.get(runtime, runtime)
    assert ytdlp.require_ytdlp("k").js_runtime == (name, f"/x/{runtime}")


@pytest.mark.parametrize("version, ok", [("2025.10.22", False), ("2024.12.23", False), ("2025.11.12", True),
                                         ("2026.03.17", True), ("2025.11.13.232346", True)])
def test_a_yt_dlp_older_than_2025_11_12_is_refused_naming_the_update(stub, version, ok):
    """Issue 39 item 4: releases before 2025.11.12 cannot solve YouTube's JavaScript challenges."""
    stub.set_up(version=version)
    if ok:
        assert ytdlp.require_ytdlp("k").ytdlp.endswith("yt-dlp")
        return
    with pytest.raises(ytdlp.YtdlpError) as err:
        ytdlp.require_ytdlp("worlds.paper.source")
    message = str(err.value)
    assert "\n" not in message and f"yt-dlp {version}" in message and "older than 2025.11.12" in message
    assert 'pip install -U "yt-dlp[default]"' in message and "yt-dlp -U" in message


def test_a_yt_dlp_without_yt_dlp_ejs_is_warned_about_naming_the_install(stub, capsys):
    """Issue 39 item 4: without yt-dlp-ejs (and without the solver scripts yt-dlp's own package
    carries, which a repackaged yt-dlp may lack) fetches fail with "Requested format is not
    available"; one line says what to install."""
    stub.set_up(libraries="certifi-2025.10.05, requests-2.32.5, urllib3-2.5.0")
    ytdlp.require_ytdlp("worlds.paper.source")
    warning = capsys.readouterr().err
    assert warning.count("\n") == 1 and "without yt-dlp-ejs" in warning
    assert "Requested format is not available" in warning and 'pip install -U "yt-dlp[default]"' in warning
    stub.set_up()
    ytdlp.require_ytdlp("worlds.paper.source")
    assert "yt-dlp-ejs" not in capsys.readouterr().err


def test_a_runtime_yt_dlp_calls_unsupported_is_named(stub):
    """Own case: yt-dlp ignores a runtime below its minimum (deno 2.0, say), marking it
    "(unsupported)" in its header; the check says so instead of every fetch failing."""
    stub.set_up(runtime_version="2.0.0 (unsupported)")
    with pytest.raises(ytdlp.YtdlpError, match=r"too old to use \(\"JS runtimes: deno-2.0.0 \(unsupported\)"):
        ytdlp.require_ytdlp("k")


def test_pacer_keeps_the_interval_and_the_hourly_bound():
    now, slept = [0.0], []

    def sleep(s):
        slept.append(s)
        now[0] += s
    pacer = ytdlp.Pacer(6.0, 3, clock=lambda: now[0], sleep=sleep)
    starts = []
    for _ in range(5):
        pacer.wait()
        starts.append(now[0])
        now[0] += 1.0                    # the fetch itself
    assert starts == [0.0, 6.0, 12.0, 3600.0, 3606.0]


def test_transient_failures_stop_acquisition_and_are_never_replaced(stub, server, tmp_path):
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    ev, bal = YTIDS["eval"], YTIDS["balanced_train"]
    stub.behave(**{ev[0]: "removed", bal[0]: "429"})
    src = audioset_sources(tmp_path, url, ytdlp=True)
    with pytest.raises(SourceError, match=f"YouTube is limiting this session.*HTTP Error 429.*wait an hour"):
        acquire_audioset(src, tmp_path / "aet", progress=False, min_sample_rate=28000)
    stub.behave(**{ev[0]: "removed", bal[0]: "live"})
    with pytest.raises(SourceError, match=f"1 clips could not be fetched now.*live event.*not marked "
                                          f"missing and nothing was replaced"):
        acquire_audioset(src, tmp_path / "aet", progress=False, min_sample_rate=28000)
    assert not (tmp_path / "aet").exists()
    stub.behave(**{ev[0]: "removed"})               # the rate limit is over
    before = len(stub.calls())
    acquire_audioset(src, tmp_path / "aet", progress=False, min_sample_rate=28000)
    assert stub.calls()[before:] == [bal[0]]         # the rest was kept or known gone
    rows = {a.ytid: a for a in read_availability(tmp_path / "aet")}
    assert rows[bal[0]].status == "present" and rows[ev[0]].status == "missing"
    assert rows[ev[0]].reason == "yt-dlp exit 1: " + ANSWERS["removed"].format(id=ev[0])
    assert len(read_audioset(tmp_path / "aet").segments["eval"]) == len(ev) - 1


@pytest.fixture
def server():
    from fixture_server import FixtureServer
    with FixtureServer() as s:
        yield s


def test_make_subsets_fetch_stops_on_a_transient_failure_and_replaces_only_the_gone(stub, tmp_path):
    """fetch_clips (make_subsets' fetch): a removed video comes back as missing with its
    reason, to be replaced; a rate-limited one stops the stage, never replaced."""
    from aetasc.data.audioset_source import fetch_clips
    from test_paper_world import sources
    src = sources(tmp_path, ytdlp=True)
    stub.behave(goneforgood="removed", limitednow1="live")
    present, failed = fetch_clips(src, [segment("okokokokok1"), segment("goneforgood")], tmp_path / "audio",
                                  progress=False, min_sample_rate=28000)
    assert present == {"okokokokok1": "audio/okokokokok1.wav"}
    assert failed["goneforgood"][0] == "missing" and "removed by the uploader" in failed["goneforgood"][2]
    with pytest.raises(SourceError, match="1 clips could not be fetched now.*Run make_subsets again later"):
        fetch_clips(src, [segment("limitednow1")], tmp_path / "audio", progress=False, min_sample_rate=28000)


def test_music_premium_and_paid_videos_are_gone_for_good(stub, tmp_path):
    ids = {"premium": "premiumvid1", "premium_bare": "premiumvid2", "payment": "paidvideo01"}
    stub.behave(**{v: k for k, v in ids.items()})
    out = fetch([segment(y) for y in ids.values()], tmp_path / "clips")
    assert {k: out[y].status for k, y in ids.items()} == dict.fromkeys(ids, "missing")
    assert out["premiumvid2"].reason == ANSWERS["premium_bare"].format(id="premiumvid2")


@pytest.mark.parametrize("answer", ["hourlimit", "ratelimit", "429"])
def test_a_rate_limit_at_any_point_stops_the_run(stub, tmp_path, answer):
    """After the first EARLY_N fetches too: one rate-limit answer stops, saying to wait an hour."""
    ids = [f"fine{i:07d}" for i in range(ytdlp.EARLY_N + 5)] + ["limitedlate", "notasked01"]
    stub.behave(limitedlate=answer)
    with pytest.raises(ytdlp.YtdlpError, match=r"(?s)limitedlate.*YouTube is limiting this session.*wait an hour"):
        fetch([segment(y) for y in ids], tmp_path / "clips")
    assert stub.calls()[-1] == "limitedlate" and "notasked01" not in stub.calls()
    assert ytdlp.read_log(tmp_path / "clips")["limitedlate"].status == "pending"


def test_the_bot_check_is_named_with_its_remedy(stub, tmp_path):
    stub.behave(botchecked1="bot")
    with pytest.raises(ytdlp.YtdlpError, match=r"botchecked1.*not a bot.*ytdlp_cookies.*residential"):
        fetch([segment("botchecked1"), segment("notasked01")], tmp_path / "clips")
    assert stub.calls() == ["botchecked1"]
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    with pytest.raises(ytdlp.YtdlpError, match=r"botchecked1.*not a bot.*export ytdlp_cookies again.*residential"):
        ytdlp.fetch_with_ytdlp([segment("botchecked1")], tmp_path / "clips", ytdlp.require_ytdlp("k"),
                               ytdlp.Pacer(0.0, 1000), str(cookies), lambda p, s: None, progress=False)


@pytest.mark.parametrize("mode", ["live", "nofile", "short"])
def test_an_answer_not_recognised_is_retried_a_bounded_number_of_times_then_recorded(stub, tmp_path, mode):
    """A live event, exit 0 with no file, a cut download: pending for MAX_TRIES runs, then missing with
    its reason so the stage can finish; `python -m aetasc.data.ytdlp retry` asks for them again."""
    folder = tmp_path / "clips"
    stub.behave(oddanswer01=mode)
    for run in range(ytdlp.MAX_TRIES):
        out = fetch([segment("oddanswer01")], folder)["oddanswer01"]
        assert out.status == ("pending" if run < ytdlp.MAX_TRIES - 1 else "missing")
    assert out.reason.startswith(f"given up after {ytdlp.MAX_TRIES} tries: ")
    calls = len(stub.calls())
    assert fetch([segment("oddanswer01")], folder)["oddanswer01"].status == "missing"
    assert len(stub.calls()) == calls                     # given up: not asked again
    assert ytdlp.main(["retry", str(folder)]) == 0
    stub.behave()
    assert fetch([segment("oddanswer01")], folder)["oddanswer01"].status == "present"


def test_a_cut_download_is_never_permanent(stub, tmp_path):
    """yt-dlp exiting 0 with a cut file: retried, not `corrupt` (nor a `corrupt` row of old)."""
    folder = tmp_path / "clips"
    stub.behave(cutclip0001="short")
    assert fetch([segment("cutclip0001")], folder)["cutclip0001"].status == "pending"
    with (folder / "fetch_log.csv").open("a") as f:             # an older run's verdict
        f.write("oldcorrupt1,corrupt,0,truncated: decodes to 4.000 s, the segment is 10.000 s\n")
    stub.behave()
    out = fetch([segment("cutclip0001"), segment("oldcorrupt1")], folder)
    assert out["cutclip0001"].status == out["oldcorrupt1"].status == "present"


def test_a_mistyped_cookies_path_is_refused_up_front(stub, tmp_path):
    tools = ytdlp.require_ytdlp("k")
    with pytest.raises(ytdlp.YtdlpError, match=r"ytdlp_cookies = .*cookeis.txt: no such file"):
        ytdlp.fetch_with_ytdlp([segment("okokokokok1")], tmp_path / "clips", tools, ytdlp.Pacer(0.0, 1000),
                               str(tmp_path / "cookeis.txt"), lambda p, s: None, progress=False)
    assert stub.calls() == []


def test_age_restricted_videos_are_asked_again_once_cookies_are_set(stub, tmp_path):
    folder = tmp_path / "clips"
    stub.behave(agerestrict="age")
    assert fetch([segment("agerestrict")], folder)["agerestrict"].status == "missing"
    assert fetch([segment("agerestrict")], folder)["agerestrict"].status == "missing"
    assert stub.calls() == ["agerestrict"]                       # without cookies: not again
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    tools = ytdlp.require_ytdlp("k")
    out = ytdlp.fetch_with_ytdlp([segment("agerestrict")], folder, tools, ytdlp.Pacer(0.0, 1000), str(cookies),
                                 lambda p, s: clip_problem(p, s, 28000, check_length=True), progress=False)
    assert out["agerestrict"].status == "present" and stub.calls() == ["agerestrict"] * 2
