"""The run store: a run is identified by what its numbers depend on, and by nothing else.

Unit tests of identities, claims and damaged files, then the behaviour through `dvc repro`
on copies of the tiny project: exactly the changed runs retrain.
"""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from aetasc.io import file_sha256, machine_id
from aetasc.training import store
from aetasc.training.checkpoints import CHECKPOINT
from aetasc.training.identity import PACKAGE, _imports, code_digest, digest, training_modules
from aetasc.training.store import RESULT
from aetasc.training.trainer import train_run
from conftest import DVC, DVC_ENV, run_cmd
from test_train import make_data, make_spec

TESTS = Path(__file__).resolve().parent


# ------------------------------------------------------------------------------ identity

def test_the_training_path_is_what_importing_the_trainer_loads():
    """The AST walk against the interpreter: the package modules `import aetasc.training.trainer` loads."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, aetasc.training.trainer; print('\\n'.join(sorted("
                             "m.__file__ for n, m in sys.modules.items() if n.startswith('aetasc') "
                             "and getattr(m, '__file__', None))))"],
                            capture_output=True, text=True, check=True).stdout.split()
    walked = {str(p) for p in training_modules()}
    assert walked == {f for f in loaded if not f.endswith("__init__.py")} | (
        {f for f in loaded if f.endswith("__init__.py")} & walked)
    assert {Path(f).name for f in walked} >= {"trainer.py", "model.py", "augment.py", "metrics.py",
                                              "batches.py", "identity.py", "store.py", "spec.py",
                                              "checkpoints.py"}


def test_relative_imports_resolve_as_python_resolves_them(tmp_path, monkeypatch):
    """A package's __init__.py and a module beside it resolve `.` alike: against that package."""
    for name, source in {"__init__.py": "", "top.py": "",
                         "p/__init__.py": "from . import m\nfrom .. import top\n",
                         "p/m.py": "from .n import x\nfrom .q import r\n", "p/n.py": "",
                         "p/q/__init__.py": "from .r import y\nfrom ..n import z\n", "p/q/r.py": ""}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    monkeypatch.setattr("aetasc.training.identity.PACKAGE", tmp_path)
    assert _imports(tmp_path / "p/__init__.py") == {"p", "p.m", "", "top"}
    assert _imports(tmp_path / "p/m.py") == {"p.n", "p.q", "p.q.r"}
    assert _imports(tmp_path / "p/q/__init__.py") == {"p.q.r", "p.n"}


def test_digest_tells_bytes_apart():
    a = np.arange(6, dtype=np.float32)
    assert digest(a) == digest(a.copy())
    assert digest(a) != digest(a.reshape(2, 3)) != digest(a.astype(np.float64))
    b = a.copy()
    b[3] = np.nextafter(b[3], 10)                    # one ulp
    assert digest(b) != digest(a)
    assert digest(["x"], a) != digest(["y"], a)


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path):
    # Chunked (hashlib.file_digest is 3.11+): a file across chunk boundaries, and an empty one.
    blob = np.random.default_rng(0).bytes((5 << 19) + 7)
    (tmp_path / "blob").write_bytes(blob)
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "blob") == hashlib.sha256(blob).hexdigest()
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_the_code_digest_covers_library_versions(monkeypatch):
    before = code_digest()
    code_digest.cache_clear()
    monkeypatch.setattr("aetasc.training.identity.library_versions", lambda: {"torch": "0.0"})
    try:
        assert code_digest() != before
    finally:
        code_digest.cache_clear()


def _package_copy(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the package that the code digest reads instead of the real one."""
    copy = tmp_path / "aetasc"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr("aetasc.training.identity.PACKAGE", copy)
    return copy


def _digest_of(package: Path) -> str:
    return code_digest.__wrapped__()


def _reword(source: str) -> str:
    """The same code written down differently: every docstring reworded, a docstring added to
    every function and class without one, a comment after every line, blank lines between."""
    import ast
    lines = source.splitlines()
    inserts, edits = [], []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) or not node.body:
            continue
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            edits.append((first.lineno - 1, first.col_offset))
        elif not isinstance(node, ast.Module) and first.lineno > node.lineno:
            inserts.append((first.lineno - 1, " " * first.col_offset + '"""Said again, in other words."""'))
    for row, col in edits:                          # after the opening quotes (and prefix)
        line = lines[row]
        quote = min(i for i in (line.find('"""', col), line.find("'''", col), line.find('"', col),
                                line.find("'", col)) if i >= 0)
        width = 3 if line[quote:quote + 3] in ('"""', "'''") else 1
        lines[row] = line[:quote + width] + "Reworded: " + line[quote + width:]
    for row, text in sorted(inserts, reverse=True):
        lines.insert(row, text)
    import io, tokenize
    rewritten = "\n".join(lines) + "\n"
    ends = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(rewritten).readline)
            if tok.type == tokenize.NEWLINE}
    return "# a comment at the top\n\n" + "".join(
        line + ("  # and one at the end of the line\n\n" if i + 1 in ends else "\n")
        for i, line in enumerate(rewritten.splitlines()))


def test_comments_and_docstrings_added_to_every_module_retrain_nothing(tmp_path, monkeypatch):
    package = _package_copy(tmp_path, monkeypatch)
    before = _digest_of(package)
    modules = training_modules()
    assert len(modules) >= 10
    for path in modules:
        reworded = _reword(path.read_text())
        assert reworded != path.read_text()
        compile(reworded, str(path), "exec")       # still Python
        path.write_text(reworded)
    assert _digest_of(package) == before


def test_a_module_moved_with_its_imports_retrains_nothing(tmp_path, monkeypatch):
    package = _package_copy(tmp_path, monkeypatch)
    before = _digest_of(package)
    (package / "training" / "metrics.py").rename(package / "training" / "scores.py")
    for path in package.rglob("*.py"):
        path.write_text(path.read_text().replace("aetasc.training.metrics", "aetasc.training.scores"))
    assert any("training/scores.py" in str(p) for p in training_modules())
    assert _digest_of(package) == before


@pytest.mark.parametrize("change", ["constant", "operator", "import"])
def test_a_change_of_what_the_code_does_changes_the_digest(tmp_path, monkeypatch, change):
    package = _package_copy(tmp_path, monkeypatch)
    before = _digest_of(package)
    trainer = package / "training" / "trainer.py"
    old, new = {"constant": ("MONITOR_CLIPS = 256", "MONITOR_CLIPS = 257"),
                "operator": ("self.steps_per_epoch = len(epoch_set) // per_step",
                             "self.steps_per_epoch = len(epoch_set) // per_step + 1"),
                # the same name from another module: a different function is called
                "import": ("from aetasc.training.metrics import class_accuracies, lwlrap, macro_accuracy",
                           "from aetasc.training.metrics import class_accuracies, macro_accuracy\n"
                           "from aetasc.events.ranking import lwlrap")}[change]
    if change == "import":
        (package / "events" / "ranking.py").write_text("def lwlrap(truth, scores):\n    return 0.0\n")
    assert old in trainer.read_text()
    trainer.write_text(trainer.read_text().replace(old, new))
    assert _digest_of(package) != before


# --------------------------------------------------------------------------- the store

def test_store_location(tmp_path, monkeypatch):
    monkeypatch.delenv(store.ENV, raising=False)
    assert store.default_store(tmp_path) == tmp_path / "data/runs"
    queued = tmp_path / "ws/.dvc/tmp/exps/tmpab12cd/sub"
    queued.mkdir(parents=True)
    assert store.default_store(queued) == tmp_path / "ws/data/runs"      # the queuing workspace's
    monkeypatch.setenv(store.ENV, "/shared/runs")
    assert store.default_store(queued) == Path("/shared/runs")


_TWO = """
import sys, time
sys.path.insert(0, {tests!r})
import aetasc.training.trainer as t
from test_train import make_data, make_spec
original = t._train
def counted(*a, **k):
    print("TRAINING", flush=True)
    return original(*a, **k)
t._train = counted
r = t.train_run(make_spec(epochs=3), make_data(), {run_dir!r}, device="cpu", progress=False)
print("RESULT", r["loss_asc"], r["loss_aet"], flush=True)
"""


def test_two_processes_wanting_one_run_train_it_once(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "POLL_SECONDS", 0.2)
    code = _TWO.format(tests=str(TESTS), run_dir=str(tmp_path / "run"))
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    stdout = [o[0] for o in outs]
    assert sum(o.count("TRAINING") for o in stdout) == 1
    results = {line for o in stdout for line in o.splitlines() if line.startswith("RESULT")}
    assert len(results) == 1                          # the waiting process reused the result
    assert "waiting for its result" in "".join(o[1] for o in outs)
    assert not (tmp_path / "run" / store.CLAIM).exists()


def test_a_live_claim_makes_others_wait_or_step_aside(tmp_path):
    run_dir = tmp_path / "run"
    with store.claim(run_dir) as mine:
        assert mine and store.is_claimed(run_dir)
        with pytest.raises(store.Busy):
            with store.claim(run_dir, wait=False):
                pass
    assert not store.is_claimed(run_dir)


def test_a_dead_owners_claim_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / store.CLAIM).write_text(json.dumps({"host": socket.gethostname(), "machine": machine_id(),
                                                   "pid": int(dead)}))
    result = train_run(make_spec(epochs=1), make_data(), run_dir, device="cpu", progress=False, wait=False)
    assert result["epochs"] == 1 and not (run_dir / store.CLAIM).exists()


def test_an_abandoned_claim_elsewhere_is_taken_over_once_stale(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / store.CLAIM
    path.write_text(json.dumps({"host": "another-machine", "pid": 1}))
    assert store.is_claimed(run_dir)
    old = time.time() - store.STALE_SECONDS - 1
    os.utime(path, (old, old))
    assert not store.is_claimed(run_dir)
    with store.claim(run_dir, wait=False) as mine:
        assert mine and json.loads(path.read_text())["host"] == socket.gethostname()


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)


def _claim_of(path: Path, **owner) -> dict:
    owner = {"host": "node7", "machine": "0f" * 8, "pid": 4242, "token": os.urandom(8).hex(), **owner}
    path.write_text(json.dumps(owner))
    return owner


def test_a_claim_from_a_container_sharing_our_hostname_is_not_taken_over(tmp_path):
    """Issue 38 case 3: containers with one hostname cannot see each other's pids; a live
    claim of another container is judged by its heartbeat, not by a pid missing here."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _claim_of(run_dir / store.CLAIM, host=socket.gethostname(), pid=_dead_pid())
    assert store.is_claimed(run_dir)
    with pytest.raises(store.Busy):
        with store.claim(run_dir, wait=False):
            pass


class _ClockAhead:
    """This machine's clock 10 minutes ahead of the store's (an NFS server running behind)."""
    sleep = staticmethod(time.sleep)

    @staticmethod
    def time():
        return time.time() + 600


def test_claims_and_stages_are_judged_by_the_stores_clock(tmp_path, monkeypatch):
    """Issue 38 case 3: on a store whose clock is minutes behind ours, a claim or a stage
    registration just touched by another machine is live, and is neither taken over nor
    deleted."""
    monkeypatch.setattr(store, "time", _ClockAhead)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _claim_of(run_dir / store.CLAIM)
    assert store.is_claimed(run_dir)
    with pytest.raises(store.Busy):
        with store.claim(run_dir, wait=False):
            pass
    (tmp_path / store.STAGES).mkdir()
    stage = tmp_path / store.STAGES / "node7-4242-0badc0de.json"
    _claim_of(stage, what="train_figure --figure fig4", since=time.time())
    assert [s["what"] for s in store.running_stages(tmp_path)] == ["train_figure --figure fig4"]
    assert stage.is_file()
    old = time.time() - store.STALE_SECONDS - 1                     # by the store's clock
    for path in (run_dir / store.CLAIM, stage):
        os.utime(path, (old, old))
    assert not store.is_claimed(run_dir) and store.running_stages(tmp_path) == []


def test_two_takers_of_one_stale_claim_cannot_both_hold_it(tmp_path, monkeypatch):
    """Issue 38 case 3: two processes judge one abandoned claim stale at the same moment;
    the one that comes second must not take the run from the first."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _claim_of(run_dir / store.CLAIM)
    old = time.time() - store.STALE_SECONDS - 1
    os.utime(run_dir / store.CLAIM, (old, old))
    both_judged, first_holds = threading.Barrier(2), threading.Event()
    judge = store._is_stale

    judged = set()

    def is_stale(path, *args):
        stale = judge(path, *args)
        name = threading.current_thread().name
        if path.name == store.CLAIM and name in ("first", "second") and name not in judged:
            judged.add(name)
            both_judged.wait(timeout=10)
            if threading.current_thread().name == "second":
                first_holds.wait(timeout=10)       # the second acts only once the first holds the run
        return stale
    monkeypatch.setattr(store, "_is_stale", is_stale)
    held = {}

    def take(name):
        try:
            with store.claim(run_dir, wait=False) as mine:
                held[name] = mine
                if name == "first":
                    first_holds.set()
                    time.sleep(0.5)
        except store.Busy:
            held[name] = False
            first_holds.set()
    threads = [threading.Thread(target=take, args=(n,), name=n) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(held.values()) == [False, True]
    assert not list(run_dir.glob(f"{store.CLAIM}.taking-*"))


def test_a_taker_that_died_mid_take_over_does_not_block_the_run(tmp_path):
    """Own case: a process killed while it held the take-over file of a stale claim leaves
    that file behind; once it is stale in turn, the next taker gets the run."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stale = _claim_of(run_dir / store.CLAIM)
    died = _claim_of(run_dir / f"{store.CLAIM}.taking-{stale['token']}-1")
    old = time.time() - store.STALE_SECONDS - 1
    for path in run_dir.iterdir():
        os.utime(path, (old, old))
    with store.claim(run_dir, wait=False) as mine:
        assert mine and json.loads((run_dir / store.CLAIM).read_text())["machine"] == machine_id()
        assert died["token"] not in (run_dir / store.CLAIM).read_text()
    assert not (run_dir / store.CLAIM).exists() and not list(run_dir.glob(f"{store.CLAIM}.taking-*"))


def test_the_machine_id_falls_back_to_the_hostname(monkeypatch):
    """Own case: without /etc/machine-id (a minimal container) the id is still stable."""
    from aetasc import io
    machine_id.cache_clear()
    monkeypatch.setattr(io, "_MACHINE_FILES", ("/nonexistent/machine-id",))
    try:
        assert machine_id() == machine_id() and len(machine_id()) == 16
    finally:
        machine_id.cache_clear()


def test_a_damaged_result_is_reported_and_retrained(tmp_path, capsys):
    spec, data = make_spec(epochs=1), make_data()
    first = train_run(spec, data, tmp_path, device="cpu", progress=False)
    (tmp_path / RESULT).write_text('{"fingerprint": "' + spec.fingerprint()[:5])     # cut short
    again = train_run(spec, data, tmp_path, device="cpu", progress=False)
    assert str(tmp_path / RESULT) in capsys.readouterr().err
    assert (tmp_path / (RESULT + ".bad")).is_file()
    assert again["loss_asc"] == first["loss_asc"]


def test_a_damaged_checkpoint_is_reported_and_the_run_starts_over(tmp_path, capsys):
    spec, data = make_spec(epochs=2), make_data()
    whole = train_run(spec, data, tmp_path / "whole", device="cpu", progress=False)
    cut = tmp_path / "cut"
    train_run(make_spec(epochs=2), data, tmp_path / "donor", device="cpu", progress=False, keep_checkpoint=True)
    cut.mkdir()
    blob = (tmp_path / "donor" / CHECKPOINT).read_bytes()
    (cut / CHECKPOINT).write_bytes(blob[:len(blob) // 2])           # killed mid-write, say
    result = train_run(spec, data, cut, device="cpu", progress=False)
    assert str(cut / CHECKPOINT) in capsys.readouterr().err
    assert result["loss_asc"] == whole["loss_asc"] and result["lwlrap"] == whole["lwlrap"]


def test_a_result_records_its_provenance(tmp_path):
    spec = make_spec(epochs=1)
    result = train_run(spec, make_data(), tmp_path, device="cpu", progress=False)
    assert result["fingerprint"] == spec.fingerprint() and result["data_id"] == spec.data_id
    assert result["code"] == code_digest()
    assert set(result["versions"]) == {"torch", "numpy"}
    assert result["device"] == "cpu" and result["wall_seconds_this_session"] > 0


# ---------------------------------------------------- through DVC on the tiny project

def _trained(out: str) -> dict[str, int]:
    return {f: int(n) for f, n in re.findall(r"^(\w+): trained (\d+) run\(s\) here", out, re.M)}


def _params(root: Path, change) -> None:
    raw = yaml.safe_load((root / "params.yaml").read_text())
    change(raw)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def _runs(root: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (root / "data/runs").glob("*/result.json")}


def _asc(root: Path, figure: str) -> dict:
    return {k: v["asc_accuracy"]["per_seed"] for k, v in
            json.loads((root / f"metrics/{figure}.json").read_text())["points"].items()}


@pytest.mark.slow
def test_a_new_T_trains_exactly_its_runs(dvc_repo):
    before = _runs(dvc_repo)
    _params(dvc_repo, lambda raw: raw["worlds"]["synthetic"]["figures"]["fig3b"]["hours"].append(0.004))
    out = run_cmd([DVC, "repro", "train@fig3b"], dvc_repo, DVC_ENV)
    new = {k: v for k, v in _runs(dvc_repo).items() if k not in before}
    # the new subsets re-run the stages upstream; the baselines' runs all come from the store
    assert _trained(out) == {"baselines": 0, "fig3b": 2}      # T = 0.004 h x 2 seeds
    assert len(new) == 2 and {r["seed"] for r in new.values()} == {0, 1}


@pytest.mark.slow
def test_a_new_seed_trains_exactly_that_seeds_runs(dvc_repo):
    """Through Fig. 2, whose alphas are fixed: with `alpha: auto` the other figures train at
    Eq. 3's alpha, a mean over every seed's baselines, which a new seed rightly changes."""
    before = _runs(dvc_repo)
    _params(dvc_repo, lambda raw: raw["worlds"]["synthetic"].update(seeds=[0, 1, 2]))
    out = run_cmd([DVC, "repro", "sweep@fig2"], dvc_repo, DVC_ENV)
    new = {k: v for k, v in _runs(dvc_repo).items() if k not in before}
    assert _trained(out) == {"baselines": 2, "fig2": 1}       # asc + aet; alpha = 0.5
    assert {(r["seed"], r["alpha"]) for r in new.values()} == {(2, 0.0), (2, 1.0), (2, 0.5)}


@pytest.mark.slow
@pytest.mark.parametrize("change", ["generator seed", "feature setting", "training code"])
def test_what_changes_the_numbers_retrains(dvc_repo, change):
    before, asc_before = _runs(dvc_repo), _asc(dvc_repo, "baselines")
    if change == "generator seed":
        _params(dvc_repo, lambda raw: raw["worlds"]["synthetic"]["source"].update(seed=7))
    elif change == "feature setting":
        _params(dvc_repo, lambda raw: raw["worlds"]["synthetic"]["features"].update(fmax=3500.0))
    else:      # one line on the training path: SpecAugment returns centred examples
        path = dvc_repo / "src/aetasc/training/augment.py"
        text = path.read_text()
        assert text.count("return x + mean") == 1
        path.write_text(text.replace("return x + mean", "return x"))
    env = {**DVC_ENV, "PYTHONPATH": str(dvc_repo / "src")}      # the copy's code, not the installed one
    out = run_cmd([DVC, "repro", "baselines"], dvc_repo, env)
    assert _trained(out) == {"baselines": 4}                  # asc + aet x 2 seeds, none reused
    assert len(set(_runs(dvc_repo)) - set(before)) >= 4          # new store entries, not overwritten ones
    assert _asc(dvc_repo, "baselines") != asc_before


@pytest.mark.slow
def test_an_emptied_store_retrains_to_the_same_numbers(dvc_repo):
    metrics = {f: (dvc_repo / f"metrics/{f}.json").read_bytes() for f in ("baselines", "fig3a")}
    shutil.rmtree(dvc_repo / "data/runs")
    for figure, stage in zip(metrics, ("baselines", "train@fig3a")):
        out = run_cmd([DVC, "repro", "-s", "-f", stage], dvc_repo, DVC_ENV)
        assert _trained(out)[figure] > 0
    assert {f: (dvc_repo / f"metrics/{f}.json").read_bytes() for f in metrics} == metrics


@pytest.mark.slow
def test_a_queued_experiment_reuses_the_workspaces_runs(dvc_repo):
    """A queued experiment runs in a copy of the workspace under .dvc/tmp/exps; every run it
    needs was trained by the same experiment in the workspace, so it trains none."""
    run_cmd([DVC, "exp", "run", "-S", "alpha=0.5"], dvc_repo, DVC_ENV)
    run_cmd(["git", "checkout", "--", "."], dvc_repo, DVC_ENV)
    run_cmd([DVC, "exp", "run", "--queue", "-S", "alpha=0.5"], dvc_repo, DVC_ENV)
    run_cmd([DVC, "queue", "start", "-j", "1"], dvc_repo, DVC_ENV)
    deadline = time.time() + 600
    while time.time() < deadline:
        status = run_cmd([DVC, "queue", "status"], dvc_repo, DVC_ENV)
        if "Running" not in status and "Queued" not in status:
            break
        time.sleep(2)
    assert "Success" in status, status
    task = re.search(r"^(\w+)\s", status.splitlines()[1]).group(1)
    logs = run_cmd([DVC, "queue", "logs", task], dvc_repo, DVC_ENV)
    trained = _trained(logs)
    assert set(trained) >= {"fig3a", "fig3b", "fig4", "fig5", "regularizers"}, logs[-3000:]
    assert set(trained.values()) == {0}, logs[-3000:]


@pytest.mark.slow
def test_housekeeping_lists_and_removes_what_no_figure_needs(dvc_repo):
    store_dir = dvc_repo / "data/runs"
    stale = store_dir / "0123456789abcdef"
    store.mark_entry(stale)
    (stale / RESULT).write_text("{}")
    kept = set(store.entries(store_dir)) - {stale}
    script = str(dvc_repo / "stages/run_store.py")
    listing = run_cmd([sys.executable, script], dvc_repo, DVC_ENV)
    assert re.search(r"^0123456789abcdef\s.*not needed$", listing, re.M)
    assert f"{len(kept)} of {len(kept)} needed runs present" in listing   # every other entry is needed
    run_cmd([sys.executable, script, "--remove", "--yes"], dvc_repo, DVC_ENV)
    assert set(store.entries(store_dir)) == kept and all(store.is_entry(e) for e in kept)
