"""The file helpers every stage shares: temporary names of one process and thread, and only
a dead process's leftovers deleted (never a live one's, here or on another machine)."""
import json
import subprocess
import sys
import threading
from pathlib import Path

from aetasc.io import atomic_dir, machine_id, partial_path, remove_dead_partials, write_json

SRC = Path(__file__).resolve().parents[1] / "src"

HOLDER = """
import sys
sys.path.insert(0, sys.argv[2])
from aetasc.io import atomic_dir
with atomic_dir(sys.argv[1]) as tmp:
    (tmp / "owner").write_text("child")
    print(tmp, flush=True)
    sys.stdin.readline()                # held until the test says go on
"""


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_atomic_dir_leaves_a_live_process_folder_alone(tmp_path):
    """io.atomic_dir deleted every sibling `.{target}.*.partial` as a killed run's: a second
    process building the same target deleted the first's folder while it was being filled,
    and the first then failed to rename it. Now only dead processes' folders go."""
    target = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), str(SRC)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    childs = Path(child.stdout.readline().strip())
    assert childs.is_dir()
    with atomic_dir(target) as tmp:
        (tmp / "owner").write_text("parent")
    assert childs.is_dir() and (childs / "owner").read_text() == "child"
    _, err = child.communicate("go\n", timeout=60)
    assert child.returncode == 0, err
    assert (target / "owner").read_text() == "child"            # the last to finish wins, whole


def test_leftovers_of_dead_processes_go_and_others_stay_with_a_line(tmp_path, capsys):
    target = tmp_path / "out"
    dead = tmp_path / f".out.{machine_id()}-{dead_pid()}-0123abcd.partial"
    elsewhere = tmp_path / ".out.0000000000000000-1-0123abcd.partial"     # another machine: not checkable
    older = tmp_path / ".out.db6oukvn.partial"                          # tempfile's name, no owner
    other_target = tmp_path / f".out.json.{machine_id()}-{dead_pid()}-0123abcd.partial"
    for folder in (dead, elsewhere, older):
        folder.mkdir()
        (folder / "x").write_text("x")
    other_target.write_text("{}")
    with atomic_dir(target) as tmp:
        (tmp / "x").write_text("y")
    assert not dead.exists() and elsewhere.is_dir() and older.is_dir() and other_target.is_file()
    err = capsys.readouterr().err
    assert f"{elsewhere}: left by a process" in err and f"{older}: left by a process" in err
    assert str(other_target) not in err


def test_write_json_from_many_threads_at_once_loses_nothing(tmp_path):
    """write_json's temporary was `.{name}.partial` for every writer: two writers of one file
    truncated each other's temporary, and the second rename found none (FileNotFoundError)."""
    path, errors = tmp_path / "state.json", []

    def writer(n):
        try:
            for i in range(200):
                write_json(path, {"writer": n, "i": i, "pad": "x" * 4096})
        except Exception as err:            # noqa: BLE001 - what the test looks for
            errors.append(err)
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(path.read_text())["i"] == 199
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]        # no temporary left


def test_partial_names_are_per_process_and_thread_and_judged_by_their_owner(tmp_path):
    first, second = partial_path(tmp_path / "a.csv"), partial_path(tmp_path / "a.csv")
    assert first != second and first.parent == tmp_path and first.name.startswith(".a.csv.")
    assert machine_id() in first.name and first.name.endswith(".partial")
    first.write_text("live")                                                # ours, alive: kept
    gone = tmp_path / f".a.csv.{machine_id()}-{dead_pid()}-0123abcd.partial"
    gone.write_text("dead")
    remove_dead_partials(tmp_path / "a.csv")
    assert first.is_file() and not gone.exists()
