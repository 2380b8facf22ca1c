"""Integrity: a cached number is verified, housekeeping owns only runs, every failure names
its file. One test (or a few) per case of the adversarial pass, numbered as there; each
reproduces the case as a user met it."""
import contextlib
import errno
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from aetasc.experiments import runner as experiments
from aetasc.features import extraction as features
from aetasc.training import store
from aetasc.config import FeatureParams, ParamsError, load_params, read_yaml
from aetasc.data import audioset_source
from aetasc.data.audioset import (CLASS_TABLE, SPLITS, EventClass, Segment, read_class_labels,
                                  read_segments_csv, write_class_labels, write_segments_csv)
from aetasc.data.download import ArchiveError, DownloadError, Retry, download, safe_extract
from aetasc.data.tut2018 import LayoutError
from aetasc.experiments.aggregate import mean_curves
from aetasc.experiments.grid import Point, Run
from aetasc.experiments.runner import execute
from aetasc.features.extraction import DiskFullError, FeatureError, extract_features, open_features
from aetasc.events.ranking import RankedClass, RankingError, read_ranking, write_ranking
from aetasc.events.subsets import SubsetError, read_clip_list, write_clip_list
from aetasc.training.checkpoints import CHECKPOINT, CheckpointError, load_checkpoint
from aetasc.training.store import RESULT, read_result
from aetasc.training.trainer import CURVES, train_run
from conftest import REPO
from fixture_server import FixtureServer
from test_features import SMALL, noise
from test_train import make_data, make_spec

TESTS = Path(__file__).resolve().parent


# ------------------------------------------------------------ 1, 2: housekeeping

def _housekeeping(monkeypatch, store_dir: Path, *args: str, needed: dict | None = None) -> str:
    """Run stages/run_store.py's main in this process, with `needed` as the runs the current
    figures need (planning them needs a whole pipeline's data, which is not what is tested)."""
    spec = importlib.util.spec_from_file_location("run_store_stage", REPO / "stages" / "run_store.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "needed_runs", lambda params, paths: dict(needed or {}))
    monkeypatch.setattr(module, "read_audioset", lambda root: None)
    monkeypatch.setattr(module, "tagger_plan", lambda *a: [type("Spec", (), {"fingerprint": lambda self: "tagger"})()])
    monkeypatch.setattr(sys, "argv", ["run_store.py", "--params", str(REPO / "params.yaml"),
                                      "--runs", str(store_dir), *args])
    module.main()


def _entry(store_dir: Path, name: str, age: float = 0.0) -> Path:
    """A finished run entry as the store writes it, last used `age` seconds ago."""
    entry = store_dir / name
    store.mark_entry(entry)
    (entry / RESULT).write_text("{}")
    then = time.time() - age
    for p in [*entry.iterdir(), entry]:
        os.utime(p, (then, then))
    return entry


def test_1_housekeeping_pointed_at_data_deletes_nothing_that_is_not_a_run(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    for folder in ("asc", "aet", "features", "ranking", "subsets", "downloads"):
        (data / folder).mkdir(parents=True)
        (data / folder / "kept.bin").write_bytes(b"x" * 1000)
    runs = data / "runs"
    _entry(runs, "0123456789abcdef", age=3600)
    _housekeeping(monkeypatch, data, "--remove", "--yes")
    out = capsys.readouterr().out
    assert sorted(p.name for p in data.iterdir()) == ["aet", "asc", "downloads", "features", "ranking",
                                                     "runs", "subsets"]
    assert all((data / f / "kept.bin").is_file() for f in ("asc", "aet", "features", "downloads"))
    assert "asc" in out and f"not a run entry ({store.ENTRY} missing): left alone" in out
    # pointed at the store itself, the one unneeded entry goes
    _housekeeping(monkeypatch, runs, "--remove", "--yes")
    assert not (runs / "0123456789abcdef").exists()


def test_1_remove_lists_sizes_and_asks_or_needs_yes(tmp_path, monkeypatch, capsys):
    entry = _entry(tmp_path, "0123456789abcdef", age=3600)
    (entry / "curves.csv").write_bytes(b"x" * 3 * 2**20)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))              # not a terminal
    with pytest.raises(SystemExit, match="add --yes"):
        _housekeeping(monkeypatch, tmp_path, "--remove")
    assert entry.is_dir()
    out = capsys.readouterr().out
    assert "0123456789abcdef        3.0 MiB  not needed" in out and "3.0 MiB in 1 entries not needed" in out
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    _housekeeping(monkeypatch, tmp_path, "--remove")
    assert entry.is_dir()
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    _housekeeping(monkeypatch, tmp_path, "--remove")
    assert not entry.exists()


def test_1_store_entries_carry_the_marker(tmp_path):
    run_dir = tmp_path / "run"
    train_run(make_spec(epochs=1), make_data(), run_dir, device="cpu", progress=False)
    assert store.is_entry(run_dir)
    with pytest.raises(ValueError, match="not a run entry"):
        store.remove(tmp_path, float("inf"))


def test_2_housekeeping_keeps_what_a_running_stage_finished_or_used(tmp_path, monkeypatch, capsys):
    spec, data = make_spec(epochs=1), make_data()
    reused = tmp_path / "reused"
    train_run(spec, data, reused, device="cpu", progress=False)
    then = time.time() - 3600
    for p in reused.iterdir():
        os.utime(p, (then, then))
    old = _entry(tmp_path, "0000000000000old", age=3600)
    with store.running_stage(tmp_path, "train_figure --figure fig3b (another params set)"):
        time.sleep(0.05)
        finished = _entry(tmp_path, "finished00000000")          # finished by the running stage
        assert read_result(reused, spec) is not None               # reused by it
        _housekeeping(monkeypatch, tmp_path, "--remove", "--yes")
        out = capsys.readouterr().out
        assert finished.is_dir() and reused.is_dir() and not old.exists()
        assert "running: train_figure --figure fig3b" in out
        assert "finished00000000" in out and "used by a running stage" in out
    assert store.running_stages(tmp_path) == []                   # unregistered on exit
    _housekeeping(monkeypatch, tmp_path, "--remove", "--yes")
    assert not finished.exists() and not reused.exists()


def test_2_a_dead_stage_does_not_protect_anything(tmp_path):
    folder = tmp_path / store.STAGES
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (folder / "x.json").write_text(json.dumps({**store._owner(), "pid": int(dead), "what": "gone"}))
    assert store.running_stages(tmp_path) == [] and not (folder / "x.json").exists()


def test_remove_checks_again_for_a_stage_that_started_while_it_asked(tmp_path, monkeypatch, capsys):
    """Issue 38 case 2: a queued experiment starts while the y/N prompt waits and reuses an
    entry the current params do not need; the deletion, right before it happens, sees it."""
    spec, data = make_spec(epochs=1), make_data()
    reused = tmp_path / "reused"
    train_run(spec, data, reused, device="cpu", progress=False)
    then = time.time() - 3600
    for p in [*reused.iterdir(), reused]:
        os.utime(p, (then, then))
    stages = contextlib.ExitStack()

    def answer(prompt):
        stages.enter_context(store.running_stage(tmp_path, "train_figure --figure fig2 (a queued experiment)"))
        time.sleep(0.05)
        assert read_result(reused, spec) is not None          # the new stage reuses the entry
        return "y"
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", answer)
    with stages:
        _housekeeping(monkeypatch, tmp_path, "--remove")
        assert reused.is_dir() and read_result(reused, spec) is not None
    assert "reused: claimed or used meanwhile; kept" in capsys.readouterr().out


def test_remove_takes_the_stages_registered_by_the_stores_clock(tmp_path, monkeypatch):
    """Own case (case 2's principle): an entry used after a running stage began is kept even
    when this machine's clock runs ahead of the store's (NFS): `since` is the store's time."""
    entry = _entry(tmp_path, "0123456789abcdef", age=3600)
    ahead = type("Clock", (), {"time": staticmethod(lambda: time.time() + 900), "sleep": time.sleep})
    monkeypatch.setattr(store, "time", ahead)
    with store.running_stage(tmp_path, "rank_events"):
        time.sleep(0.05)
        store.mark_used(entry)                             # stamped by the store's clock
        assert not store.remove(entry, float("inf")) and entry.is_dir()


@pytest.mark.parametrize("target", ["entry outside", "folder outside", "dangling"])
def test_a_symlinked_store_entry_is_listed_and_left_alone(tmp_path, monkeypatch, capsys, target):
    """Issue 38 case 10: a symlink in the store is listed, never followed to delete."""
    runs = tmp_path / "runs"
    _entry(runs, "0123456789abcdef", age=3600)
    outside = tmp_path / "elsewhere"
    if target == "entry outside":
        _entry(tmp_path, "elsewhere", age=3600)         # a run entry, but not in this store
    elif target == "folder outside":
        outside.mkdir()
        (outside / "thesis.tex").write_text("mine")
    (runs / "fedcba9876543210").symlink_to(outside, target_is_directory=True)
    _housekeeping(monkeypatch, runs, "--remove", "--yes")
    out = capsys.readouterr().out
    assert re.search(rf"^fedcba9876543210 .*a symbolic link to {re.escape(str(outside))}: left alone$", out, re.M)
    assert "removed 1 entries" in out and not (runs / "0123456789abcdef").exists()
    assert (runs / "fedcba9876543210").is_symlink()
    if target != "dangling":
        assert sorted(p.name for p in outside.iterdir()) == (
            sorted([store.ENTRY, RESULT]) if target == "entry outside" else ["thesis.tex"])
    with pytest.raises(store.StoreError, match="symbolic link"):
        store.remove(runs / "fedcba9876543210", float("inf"))


# -------------------------------------------------------------- 3: damaged features

@pytest.fixture
def extracted(tmp_path):
    clips = [(f"c{i}", noise(tmp_path / f"c{i}.wav", seed=i)) for i in range(6)]
    out = tmp_path / "features"
    extract_features(clips, FeatureParams(**SMALL), out, device="cpu", workers=0, progress=False)
    return out


def test_3_feature_rows_changed_on_disk_stop_the_run_naming_the_array(extracted, monkeypatch):
    open_features(extracted)                                      # clean: opens
    array = np.load(extracted / features.FEATURES, mmap_mode="r+")
    array[1:3] = 0                                                # index.csv untouched
    array.flush()
    del array
    with pytest.raises(FeatureError, match=f"{extracted / features.FEATURES}: its bytes do not match"):
        open_features(extracted)


def test_3_the_array_is_hashed_once_per_process(extracted, monkeypatch):
    calls = []
    original = features.array_sha256
    monkeypatch.setattr(features, "array_sha256", lambda p: calls.append(p) or original(p))
    monkeypatch.setattr(features, "_CHECKED", set())
    for _ in range(3):
        open_features(extracted)
    assert len(calls) == 1


# --------------------------------------------------------- 4: relative store path

def test_4_a_relative_store_resolves_against_the_queuing_workspace(tmp_path, monkeypatch):
    queued = tmp_path / "ws/.dvc/tmp/exps/tmpab12cd"
    queued.mkdir(parents=True)
    monkeypatch.setenv(store.ENV, "../shared-runs")
    assert store.default_store(queued) == tmp_path / "ws/../shared-runs"
    monkeypatch.setenv(store.ENV, "runs")
    assert store.default_store(queued) == tmp_path / "ws/runs"
    assert store.default_store(tmp_path / "ws") == tmp_path / "ws/runs"


# -------------------------------------------------------------------- 5: YAML 1.2

def test_5_params_are_read_as_dvc_reads_them():
    from dvc.utils.serialize import parse_yaml
    text = (REPO / "params.yaml").read_text()
    assert read_yaml(text) == parse_yaml(text, "params.yaml")


@pytest.mark.parametrize("line, key, v12, v11", [
    ("data_seed: 010", "data_seed", "10", "8"),
    ("data_seed: 1:40", "data_seed", "'1:40'", "100"),
    ("data_seed: 0o10", "data_seed", "8", "'0o10'"),
])
def test_5_values_yaml_11_reads_otherwise_are_refused_naming_the_key(tmp_path, line, key, v12, v11):
    text = (REPO / "params.yaml").read_text()
    world = load_params(REPO / "params.yaml").world
    start = text.index(f"\n  {world}:")
    at = text.index("    data_seed:", start)
    end = text.index("\n", at)
    path = tmp_path / "params.yaml"
    path.write_text(text[:at] + "    " + line + text[end:])
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert f"worlds.{world}.{key}: read as {v12} (YAML 1.2, used) or {v11} (YAML 1.1)" in str(err.value)


# ------------------------------------------------------------- 6: damaged checkpoints

def test_6_a_finished_runs_kept_checkpoint_cut_short_is_set_aside_and_retrained(tmp_path, capsys):
    spec, data = make_spec(alpha=1.0, epochs=1), make_data()
    first = train_run(spec, data, tmp_path, device="cpu", progress=False, keep_checkpoint=True)
    weights = load_checkpoint(tmp_path / CHECKPOINT)["model"]
    blob = (tmp_path / CHECKPOINT).read_bytes()
    (tmp_path / CHECKPOINT).write_bytes(blob[:len(blob) // 2])
    again = train_run(spec, data, tmp_path, device="cpu", progress=False, keep_checkpoint=True)
    err = capsys.readouterr().err
    assert f"{tmp_path / CHECKPOINT}: does not match the digest" in err
    assert (tmp_path / (CHECKPOINT + ".bad")).is_file() and (tmp_path / (RESULT + ".bad")).is_file()
    assert again["lwlrap"] == first["lwlrap"]
    reloaded = load_checkpoint(tmp_path / CHECKPOINT)["model"]
    assert all(torch.equal(reloaded[k], weights[k]) for k in weights)


def _flip_a_bit_in_tensor_data(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        # the largest tensor storage (archive/data/<n>; not the pickle, archive/data.pkl)
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    blob = bytearray(path.read_bytes())
    name_len = int.from_bytes(blob[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(blob[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    blob[start + info.file_size // 2] ^= 0x04
    path.write_bytes(bytes(blob))


def test_6_a_flipped_bit_in_a_checkpoint_is_caught_and_the_run_starts_over(tmp_path, capsys):
    spec, data = make_spec(epochs=2), make_data()
    whole = train_run(spec, data, tmp_path / "whole", device="cpu", progress=False)
    donor = tmp_path / "donor"
    train_run(make_spec(epochs=1), data, donor, device="cpu", progress=False, keep_checkpoint=True)
    ckpt = torch.load(donor / CHECKPOINT, weights_only=True)
    ckpt["fingerprint"] = spec.fingerprint()                      # epoch 1 of `spec`, as if killed
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    torch.save(ckpt, resumed / CHECKPOINT)
    _flip_a_bit_in_tensor_data(resumed / CHECKPOINT)
    assert isinstance(torch.load(resumed / CHECKPOINT, weights_only=True), dict)   # torch alone: no complaint
    with pytest.raises(CheckpointError, match=f"{resumed / CHECKPOINT}: damaged checkpoint .*CRC-32"):
        load_checkpoint(resumed / CHECKPOINT)
    result = train_run(spec, data, resumed, device="cpu", progress=False)
    assert f"{resumed / CHECKPOINT}: unreadable checkpoint" in capsys.readouterr().err
    assert result["loss_asc"] == whole["loss_asc"] and result["lwlrap"] == whole["lwlrap"]


# ------------------------------------------------------------- 7: result.json edited

@pytest.mark.parametrize("edit", ["accuracy edited", "fingerprint only"])
def test_7_a_result_that_does_not_match_its_digest_is_set_aside_and_retrained(tmp_path, capsys, edit):
    spec, data = make_spec(epochs=1), make_data()
    first = train_run(spec, data, tmp_path, device="cpu", progress=False)
    path = tmp_path / RESULT
    result = json.loads(path.read_text())
    path.write_text(json.dumps({**result, "asc_accuracy": 0.99} if edit == "accuracy edited"
                               else {"fingerprint": spec.fingerprint()}))
    assert read_result(tmp_path, spec) is None
    assert f"{path}: its content does not match the digest it carries" in capsys.readouterr().err
    again = train_run(spec, data, tmp_path, device="cpu", progress=False)
    assert again["asc_accuracy"] == first["asc_accuracy"] != 0.99
    assert read_result(tmp_path, spec)["asc_accuracy"] == first["asc_accuracy"]


# ------------------------------------------------------- 8, 9: downloads that give up

def test_8_a_class_table_cut_at_a_line_break_never_gets_its_final_name(tmp_path):
    from test_paper_world import CLASSES, make_audioset_tables, sources
    tables = make_audioset_tables(tmp_path / "tables")
    with FixtureServer() as server:
        server.no_length = True                   # the body ends when the connection closes
        for p in tables.iterdir():
            server.files[f"/csv/{p.name}"] = p.read_bytes()
        whole = server.files[f"/csv/{CLASS_TABLE}"]
        cut = whole.index(b"\n", whole.index(CLASSES[1].mid.encode())) + 1     # after "Music"
        server.cut_after[f"/csv/{CLASS_TABLE}"] = cut
        src = sources(tmp_path, audioset_csv_url=server.url + "/csv",
                      audioset_ontology_url=server.url + "/csv/ontology.json")
        with pytest.raises(LayoutError, match=rf"labels not in {CLASS_TABLE}: /m/0jbk \(cut short in transfer\?\)"):
            audioset_source._download_tables(src, progress=False)
        folder = Path(src.download_dir) / "audioset"
        assert not (folder / CLASS_TABLE).exists() and not (folder / (CLASS_TABLE + ".part")).exists()
        tables_now = audioset_source._download_tables(src, progress=False)          # the next run: whole
        assert (folder / CLASS_TABLE).read_bytes() == whole and CLASS_TABLE in tables_now


def test_8_download_parses_before_the_final_name(tmp_path):
    with FixtureServer() as server:
        server.files["/t.csv"] = b"bad table\n"

        def check(path):
            raise ValueError(f"{path}: not a table")
        with pytest.raises(ValueError, match="not a table"):
            download(server.url + "/t.csv", tmp_path / "t.csv", progress=False, check=check)
    assert list(tmp_path.iterdir()) == []


def test_9_a_resume_answered_from_byte_0_gives_up_within_the_attempts(tmp_path):
    data = os.urandom(300_000)
    attempts = 3
    with FixtureServer() as server:
        server.files["/a.bin"] = data
        server.wrong_range = True
        server.cut_always["/a.bin"] = 100_000
        server.max_requests = 50                  # ends the loop the case describes
        with pytest.raises(DownloadError, match=f"gave up after {attempts} attempts"):
            download(server.url + "/a.bin", tmp_path / "a.bin", size=len(data), progress=False,
                     retry=Retry(attempts=attempts, backoff=0.001, timeout=5.0))
        assert len(server.requests) <= 2 * attempts
    assert not (tmp_path / "a.bin").exists()


def test_9_a_flaky_link_that_makes_progress_still_completes(tmp_path):
    data = os.urandom(300_000)
    with FixtureServer() as server:
        server.files["/a.bin"] = data
        server.cut_always["/a.bin"] = 40_000      # every response cut, each resume goes further
        dest = download(server.url + "/a.bin", tmp_path / "a.bin", size=len(data), progress=False,
                        retry=Retry(attempts=2, backoff=0.001, timeout=5.0))
    assert dest.read_bytes() == data


# ------------------------------------------------------------------- 10: disk full

def test_10_disk_full_is_caught_before_the_first_write(tmp_path, monkeypatch):
    clips = [(f"c{i}", noise(tmp_path / f"c{i}.wav", seed=i)) for i in range(3)]
    real = shutil.disk_usage
    monkeypatch.setattr(features.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    writes = []
    monkeypatch.setattr(features.npy, "open_memmap", lambda *a, **k: writes.append(a))
    with pytest.raises(DiskFullError, match=r"features\.npy: the feature array needs [\d,]+ bytes .* "
                                            r"only 1,000 bytes free"):
        extract_features(clips, FeatureParams(**SMALL), tmp_path / "out", device="cpu", workers=0,
                         progress=False)
    assert writes == [] and not list(tmp_path.glob(".out.*")) and not (tmp_path / "out").exists()


def test_10_disk_full_while_allocating_names_the_path(tmp_path, monkeypatch):
    clips = [(f"c{i}", noise(tmp_path / f"c{i}.wav", seed=i)) for i in range(3)]

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(features.os, "posix_fallocate", full)
    with pytest.raises(DiskFullError, match=r"features\.npy: cannot allocate the feature array's [\d,]+ "
                                            r"bytes \(No space left on device\)"):
        extract_features(clips, FeatureParams(**SMALL), tmp_path / "out", device="cpu", workers=0,
                         progress=False)
    assert not list(tmp_path.glob(".out.*"))


def test_10_the_stage_exits_with_the_message(tmp_path, monkeypatch):
    from test_features import small_params_file, stage_module, tut_folder
    module = stage_module()
    tut_folder(tmp_path / "asc")
    small_params_file(tmp_path)
    monkeypatch.setattr(features.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 10))
    with pytest.raises(SystemExit, match="extract_features --set asc: disk full: .*features.npy.*only 10 bytes free"):
        module.main(["--set", "asc", "--params", str(tmp_path / "params.yaml"), "--asc", str(tmp_path / "asc"),
                     "--out", str(tmp_path / "out"), "--workers", "0"])


# ----------------------------------------------------- 11: a hand-edited ranking.csv

CLASS_IDS = ["/m/a", "/m/b", "/m/c", "/m/d"]


def _ranking(path: Path) -> Path:
    write_ranking(path, [RankedClass(r + 1, i, m, f"class {m}", 1.0 - r / 10)
                         for r, (i, m) in enumerate(enumerate(CLASS_IDS))])
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_11_a_duplicated_row_is_refused_naming_the_line(tmp_path):
    path = _ranking(tmp_path / "ranking.csv")
    lines = _lines(path)
    path.write_text("".join(lines[:3] + [lines[2]] + lines[3:]))
    with pytest.raises(RankingError, match=f"{path}:4: rank 2, expected 3"):
        read_ranking(path, CLASS_IDS)
    path.write_text("".join(lines[:3] + [lines[2].replace("2,", "3,", 1)] + lines[4:]))
    with pytest.raises(RankingError, match=f"{path}:4: class /m/b is listed twice \\(first on line 3\\)"):
        read_ranking(path, CLASS_IDS)


def test_11_a_mistyped_class_id_is_refused_naming_the_line(tmp_path):
    path = _ranking(tmp_path / "ranking.csv")
    path.write_text(path.read_text().replace("/m/c,", "/m/cc,"))
    with pytest.raises(RankingError, match=f"{path}:4: class '/m/cc' is not in the class table"):
        read_ranking(path, CLASS_IDS)
    path = _ranking(tmp_path / "short.csv")
    path.write_text("".join(_lines(path)[:-1]))
    with pytest.raises(RankingError, match="ranks 3 classes, the class table has 4; missing: /m/d"):
        read_ranking(path, CLASS_IDS)


def test_11_bom_crlf_and_blank_lines_are_accepted_a_semicolon_named(tmp_path):
    clean = read_ranking(_ranking(tmp_path / "clean.csv"), CLASS_IDS)
    path = tmp_path / "edited.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "clean.csv").read_bytes().replace(b"\n", b"\r\n") + b"\r\n\r\n")
    assert read_ranking(path, CLASS_IDS) == clean
    path.write_text((tmp_path / "clean.csv").read_text().replace(",", ";"))
    with pytest.raises(RankingError, match=f"{path}:1: header must be .*uses ';' between fields"):
        read_ranking(path, CLASS_IDS)


# ----------------------------------------------------- 12: grid values equal when spelled

def test_12_grid_values_equal_as_ids_and_labels_spell_them_are_refused(raw_params):
    from aetasc.config import parse_params
    raw = raw_params
    world = raw["world"]
    raw["worlds"][world]["figures"]["fig3b"]["hours"] = [0.3, 0.3000001]
    with pytest.raises(ParamsError, match=rf"worlds\.{world}\.figures\.fig3b\.hours\.1: .*0\.3000001 would "
                                          rf"be spelled 0\.3 in subset ids and plot labels"):
        parse_params(raw)


# --------------------------------------------------------------------- 13: smaller

_TRAINER = """
import sys
sys.path.insert(0, {tests!r})
import aetasc.training.trainer as t
from test_train import make_data, make_spec
t.train_run(make_spec(epochs=2), make_data(), {run_dir!r}, device="cpu", progress=False)
"""


def test_13_a_worker_that_only_waited_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "POLL_SECONDS", 0.2)
    spec = make_spec(epochs=2)
    run = Run(Point("p", 0.5, 0.5, None), spec.seed, spec, None)
    monkeypatch.setattr(experiments, "run_data", lambda run, cache: make_data())
    other = subprocess.Popen([sys.executable, "-c", _TRAINER.format(tests=str(TESTS),
                                                                     run_dir=str(tmp_path / run.dir_name))])
    try:
        deadline = time.time() + 120
        while not (tmp_path / run.dir_name / store.CLAIM).exists():
            assert time.time() < deadline and other.poll() is None
            time.sleep(0.05)
        _, counts = execute(run, None, tmp_path, device="cpu", progress=False)
    finally:
        other.wait(timeout=300)
    assert counts == Counter({"waited for": 1})
    assert execute(run, None, tmp_path, device="cpu", progress=False)[1] == Counter(reused=1)
    fresh = Run(Point("p", 0.5, 0.5, None), spec.seed, make_spec(epochs=1), None)
    assert execute(fresh, None, tmp_path, device="cpu", progress=False)[1] == Counter(trained=1)


def test_13_curves_cut_short_warn_and_stay_out_of_the_mean(tmp_path, capsys):
    rows = ["epoch,loss_asc,loss_aet,asc_accuracy,lwlrap,lr", "1,1.0,,0.5,,0.1", "2,0.5,,0.6,,0.05"]
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / CURVES).write_text("\n".join(rows) + "\n")
    (tmp_path / "b" / CURVES).write_text("\n".join(rows[:2]) + "\n")          # an epoch lost
    (tmp_path / "c" / CURVES).write_text("\n".join(rows[:2] + ["2,0.5,"]) + "\n")   # cut mid-row
    mean = mean_curves([tmp_path / n for n in "abc"])
    err = capsys.readouterr().err
    assert f"{tmp_path / 'b' / CURVES}: 1 of 2 epochs (cut short)" in err
    assert f"{tmp_path / 'c' / CURVES}: a row is cut short" in err
    assert mean == [{"epoch": 1, "loss_asc": 1.0, "asc_accuracy": 0.5, "lr": 0.1},
                    {"epoch": 2, "loss_asc": 0.5, "asc_accuracy": 0.6, "lr": 0.05}]


def test_13_bom_crlf_and_trailing_blank_lines_in_tables_are_accepted(tmp_path):
    classes = [EventClass(0, "/m/a", "A"), EventClass(1, "/m/b", "B")]
    write_class_labels(tmp_path / "clean.csv", classes)
    edited = tmp_path / CLASS_TABLE
    edited.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "clean.csv").read_bytes().replace(b"\n", b"\r\n") + b"\r\n\n")
    assert read_class_labels(edited) == classes
    edited.write_text("index,mid,display_name\n0,/m/a,A\n\n1,/m/b,B\n")
    with pytest.raises(LayoutError, match=f"{edited}:3: a blank line inside the table"):
        read_class_labels(edited)
    segs = [Segment("abcdefghijk", 0.0, 10.0, ("/m/a",)), Segment("bcdefghijkl", 5.0, 10.0, ("/m/a", "/m/b"))]
    seg_path = tmp_path / SPLITS["eval"]
    write_segments_csv(seg_path, segs)
    seg_path.write_bytes(b"\xef\xbb\xbf" + seg_path.read_bytes().replace(b"\n", b"\r\n") + b"\r\n\r\n")
    assert read_segments_csv(seg_path) == segs


def test_13_segment_lists_accept_bom_and_refuse_duplicates_naming_the_line(tmp_path):
    segs = [Segment("abcdefghijk", 0.0, 10.0, ("/m/a",)), Segment("bcdefghijkl", 5.0, 10.0, ("/m/a", "/m/b"))]
    path = tmp_path / "x.train.csv"
    write_clip_list(path, segs)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n") + b"\r\n")
    assert read_clip_list(path) == segs
    path.write_text(path.read_text(encoding="utf-8-sig") + "abcdefghijk,0.000,10.000,/m/a\n")
    with pytest.raises(SubsetError, match=f"{path}:5: abcdefghijk is listed twice \\(first on line 2\\)"):
        read_clip_list(path)


def test_13_a_zip_with_a_folder_and_a_file_of_one_name_is_refused(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("audio", b"a file")
        zf.writestr("audio/", b"")
    with pytest.raises(ArchiveError, match=f"{archive}: holds 'audio/' both as a folder and as a file"):
        safe_extract(archive, tmp_path / "out", progress=False)
    assert list((tmp_path / "out").iterdir()) == []
