"""The paper's world, acquired from fixtures: a tiny TUT 2018 release zipped in parts and a
tiny AudioSet (CSVs + clips), served on 127.0.0.1 or laid out in local folders."""
import hashlib
import json
import re
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from aetasc.config import PaperSources
from aetasc.data import tut2018_source
from aetasc.data.audioset import (CLASS_TABLE, SPLITS, EventClass, Segment, read_audioset,
                                  read_availability, write_class_labels, write_segments_csv)
from aetasc.data.download import ChecksumError
from aetasc.data import ytdlp
from aetasc.data.audioset_source import acquire_audioset
from aetasc.data.source import SourceError
from aetasc.data.tut2018_source import TUT_FOLDER, acquire_tut2018, read_file_table
from aetasc.data.ytdlp import ytdlp_command
from aetasc.data.tut2018 import LayoutError, SceneClip, read_tut2018, write_tut2018
from aetasc.events.subsets import read_clip_list
from fixture_server import FixtureServer

REPO = Path(__file__).resolve().parents[1]
KEY = "worlds.paper.source"


# ------------------------------------------------------------------------------ fixtures

def write_wav(path, seconds=0.05, sr=48000, channels=2, subtype="PCM_24", seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.random.default_rng(seed).uniform(-0.5, 0.5, (int(seconds * sr), channels))
    sf.write(path, audio, sr, subtype=subtype)


def make_tut_release(root):
    """root/TUT_FOLDER: 2 scenes x 2 cities x 2 segments; one city per fold."""
    base = root / TUT_FOLDER
    clips = []
    for scene in ("airport", "park"):
        for city, split in (("barcelona", "train"), ("helsinki", "evaluate")):
            for seg in range(2):
                name = f"audio/{scene}-{city}-0-{seg}-a.wav"
                write_wav(base / name, seed=len(clips))
                clips.append(SceneClip(name, scene, f"{city}-0", "a", split))
    write_tut2018(base, clips)
    (base / "README.html").write_text("<p>fixture</p>")
    return base


def make_tut_zips(release, folder):
    """Zip the release in four parts like Zenodo's; return the TSV that lists them."""
    files = sorted(p for p in release.rglob("*") if p.is_file())
    audio = [p for p in files if p.parent.name == "audio"]
    parts = {"doc": [release / "README.html"],
             "meta": [p for p in files if p.name == "meta.csv" or p.parent.name == "evaluation_setup"],
             "audio.1": audio[:4], "audio.2": audio[4:]}
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["filename\tbytes\tmd5"]
    for part, members in parts.items():
        name = f"{TUT_FOLDER}.{part}.zip"
        with zipfile.ZipFile(folder / name, "w") as zf:
            for p in members:
                zf.write(p, p.relative_to(release.parent).as_posix())
        data = (folder / name).read_bytes()
        lines.append(f"{name}\t{len(data)}\t{hashlib.md5(data).hexdigest()}")
    (folder / "files.tsv").write_text("\n".join(lines) + "\n")
    return folder / "files.tsv"


CLASSES = [EventClass(0, "/m/09x0r", "Speech"), EventClass(1, "/m/04rlf", "Music"),
           EventClass(2, "/m/0jbk", "Animal")]
# 11-character ids like YouTube's; per split: present, present, missing, corrupt, empty.
YTIDS = {split: [f"{split[:3]}{i:08d}" for i in range(5)] for split in SPLITS}


def make_audioset_tables(folder):
    folder.mkdir(parents=True, exist_ok=True)
    write_class_labels(folder / CLASS_TABLE, CLASSES)
    for split, name in SPLITS.items():
        segs = [Segment(y, 30.0, 40.0, (CLASSES[i % 3].mid,)) for i, y in enumerate(YTIDS[split])]
        write_segments_csv(folder / name, segs)
    (folder / "ontology.json").write_text(json.dumps(
        [{"id": c.mid, "name": c.name, "child_ids": []} for c in CLASSES]))
    return folder


def make_clips_dir(folder):
    """Clips as users have them: plain ids, PANNs' Y<id>, FLAC, in subfolders or not."""
    ev, bal, unb = YTIDS["eval"], YTIDS["balanced_train"], YTIDS["unbalanced_train"]
    for split, ids in (("eval", ev), ("balanced_train", bal), ("unbalanced_train", unb)):
        # 10 s: each clip is checked against its segment's length (30-40 s)
        write_wav(folder / split / f"{ids[0]}.wav", seconds=10.0, sr=32000, channels=1, subtype="PCM_16")
        (folder / split / f"{ids[3]}.wav").write_bytes(b"RIFF garbage, not audio")
        write_wav(folder / split / f"{ids[4]}.wav", seconds=0.0, sr=32000, channels=1)
    write_wav(folder / "eval" / f"{ev[1]}.flac", seconds=10.0, sr=32000, channels=1, subtype="PCM_16")
    write_wav(folder / "balanced_train" / f"Y{bal[1]}.wav", seconds=10.0, sr=32000, channels=1, subtype="PCM_16")
    write_wav(folder / f"{unb[1]}.flac", seconds=10.0, sr=32000, channels=1, subtype="PCM_16")
    return folder


def sources(tmp_path, **overrides):
    values = {"download_dir": str(tmp_path / "downloads"), "download_attempts": 3,
              "download_backoff_seconds": 0.001, "tut2018_url": "http://127.0.0.1:9/unused",
              "tut2018_files": None, "tut2018_dir": None,
              "audioset_csv_url": "http://127.0.0.1:9/unused",
              "audioset_ontology_url": "http://127.0.0.1:9/unused/ontology.json",
              "audioset_clips_dir": None, "audioset_hdf5": None, "audioset_hf": None,
              "audioset_hf_revision": None, "ytdlp": False, "ytdlp_interval_seconds": 0.0,
              "ytdlp_max_per_hour": 300, "ytdlp_cookies": None, "min_sample_rate": None}
    return PaperSources.model_validate(values | overrides)


def serve_dir(server, folder, prefix):
    for p in folder.iterdir():
        if p.is_file():
            server.files[f"{prefix}/{p.name}"] = p.read_bytes()
    return server.url + prefix


def unused_port_url():
    with socket.socket() as s:      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/files"


@pytest.fixture
def server():
    with FixtureServer() as s:
        yield s


@pytest.fixture
def tut(tmp_path):
    """(release folder, folder of zips, TSV of the zips)."""
    release = make_tut_release(tmp_path / "release")
    zips = tmp_path / "zips"
    return release, zips, make_tut_zips(release, zips)


# ---------------------------------------------------------------------------- TUT 2018

def test_packaged_file_table_lists_the_15_zips():
    files = read_file_table()
    assert len(files) == 15
    assert round(sum(f.bytes for f in files) / 1e9, 2) == 21.35
    assert files[0].name == "TUT-urban-acoustic-scenes-2018-development.doc.zip"


def test_tut2018_download_resume_extract_and_skip(server, tmp_path, tut):
    _, zips, tsv = tut
    url = serve_dir(server, zips, "/zenodo")
    audio1 = f"/zenodo/{TUT_FOLDER}.audio.1.zip"
    server.cut_after[audio1] = 1000
    server.fail_with[f"/zenodo/{TUT_FOLDER}.meta.zip"] = [503]
    src = sources(tmp_path, tut2018_url=url, tut2018_files=str(tsv))
    dataset = acquire_tut2018(src, tmp_path / "asc", progress=False)
    assert len(dataset.clips) == 8 and dataset.scenes == ["airport", "park"]
    assert len(read_tut2018(tmp_path / "asc").split("evaluate")) == 4
    assert ("bytes=1000-", 206) in [(r["range"], r["status"]) for r in server.requests
                                    if r["path"] == audio1]
    manifest = json.loads((tmp_path / "asc" / "manifest.json").read_text())
    assert manifest["source"] == url and len(manifest["files"]) == 4
    # A rerun re-extracts from the verified zips and fetches nothing.
    n = len(server.requests)
    acquire_tut2018(src, tmp_path / "asc", progress=False)
    assert len(server.requests) == n


def test_tut2018_is_fetched_from_zenodos_current_urls(tmp_path, monkeypatch):
    """Issue 39 item 6: Zenodo answers /record/<id>/files/... with a redirect to /records/;
    each file (and each resume of it) is asked for at /records/ directly."""
    asked = []
    monkeypatch.setattr(tut2018_source, "download", lambda url, dest, **kw: asked.append(url) or dest)
    monkeypatch.setattr(tut2018_source, "check_free_space", lambda *a: None)
    files = read_file_table()[:2]
    for base in ("https://zenodo.org/record/1228142/files", "https://zenodo.org/records/1228142/files/"):
        asked.clear()
        tut2018_source._download_tut2018(sources(tmp_path, tut2018_url=base), files, progress=False)
        assert asked == [f"https://zenodo.org/records/1228142/files/{f.name}" for f in files]
    assert tut2018_source.file_url("https://mirror.example/record/1/x", "a.zip") == \
        "https://mirror.example/record/1/x/a.zip"                   # only Zenodo's own URLs change


def test_params_and_docs_give_zenodos_current_url():
    """params.yaml's paper world (and the docs quoting it) gave the legacy /record/ form, which
    the code rewrites; the file itself now says what is fetched."""
    url = yaml.safe_load((REPO / "params.yaml").read_text())["worlds"]["paper"]["source"]["tut2018_url"]
    assert url == "https://zenodo.org/records/1228142/files" == tut2018_source.file_url(url, "")[:-1]
    for doc in ("docs/paper_world.md", "README.md"):
        quoted = re.findall(r"tut2018_url: (\S+)", (REPO / doc).read_text())
        assert all(q == url for q in quoted), (doc, quoted)


def test_tut2018_corrupt_download_is_refused(server, tmp_path, tut):
    _, zips, tsv = tut
    url = serve_dir(server, zips, "/zenodo")
    server.files[f"/zenodo/{TUT_FOLDER}.doc.zip"] = b"truncated"
    with pytest.raises(ChecksumError, match="doc.zip: md5 mismatch"):
        acquire_tut2018(sources(tmp_path, tut2018_url=url, tut2018_files=str(tsv)),
                        tmp_path / "asc", progress=False)
    assert not (tmp_path / "asc").exists()
    assert not (tmp_path / "downloads" / "tut2018" / f"{TUT_FOLDER}.doc.zip").exists()


def test_tut2018_unreachable_says_what_to_download_and_what_to_set(tmp_path, monkeypatch):
    monkeypatch.setattr(tut2018_source, "check_free_space", lambda *a: None)   # 21 GB not needed here
    url = unused_port_url()
    with pytest.raises(SourceError) as err:
        acquire_tut2018(sources(tmp_path, tut2018_url=url), tmp_path / "asc", progress=False)
    msg = str(err.value)
    for needle in (url, "15 zip files", "21.35 GB", f"{KEY}.tut2018_dir", f"{KEY}.tut2018_url"):
        assert needle in msg
    assert not (tmp_path / "asc").exists()


def test_tut2018_dir_with_the_zips(tmp_path, tut):
    _, zips, tsv = tut
    src = sources(tmp_path, tut2018_dir=str(zips), tut2018_files=str(tsv))
    assert len(acquire_tut2018(src, tmp_path / "asc", progress=False).clips) == 8


def test_tut2018_dir_with_a_missing_or_bad_zip(tmp_path, tut):
    _, zips, tsv = tut
    src = sources(tmp_path, tut2018_dir=str(zips), tut2018_files=str(tsv))
    audio2 = zips / f"{TUT_FOLDER}.audio.2.zip"
    good = audio2.read_bytes()
    audio2.write_bytes(good[:-10])
    with pytest.raises(SourceError, match=r"audio\.2\.zip: expected .* md5"):
        acquire_tut2018(src, tmp_path / "asc", progress=False)
    audio2.unlink()
    with pytest.raises(SourceError, match=r"1 of the 4 zips are missing: .*audio\.2\.zip"):
        acquire_tut2018(src, tmp_path / "asc", progress=False)


@pytest.mark.parametrize("inner", [True, False])
def test_tut2018_dir_with_the_extracted_set_is_hard_linked(tmp_path, tut, inner):
    release, _, tsv = tut
    folder = release.parent if inner else release
    src = sources(tmp_path, tut2018_dir=str(folder), tut2018_files=str(tsv))
    acquire_tut2018(src, tmp_path / "asc", progress=False)
    name = "audio/park-helsinki-0-1-a.wav"
    assert (tmp_path / "asc" / name).stat().st_ino == (release / name).stat().st_ino
    assert json.loads((tmp_path / "asc" / "manifest.json").read_text())["linked"] == ["hardlink"]
    assert len(read_tut2018(tmp_path / "asc").clips) == 8


def test_tut2018_dir_with_an_incomplete_extraction(tmp_path, tut):
    release, _, tsv = tut
    (release / "audio" / "airport-barcelona-0-0-a.wav").unlink()
    with pytest.raises(LayoutError, match="8 clips, audio/ holds 7 WAV files: 1 listed but absent"):
        acquire_tut2018(sources(tmp_path, tut2018_dir=str(release), tut2018_files=str(tsv)),
                        tmp_path / "asc", progress=False)


def test_tut2018_dir_that_holds_nothing_useful(tmp_path):
    with pytest.raises(SourceError, match=f"{KEY}.tut2018_dir = .*nope: no such folder"):
        acquire_tut2018(sources(tmp_path, tut2018_dir=str(tmp_path / "nope")), tmp_path / "asc")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds neither the zips"):
        acquire_tut2018(sources(tmp_path, tut2018_dir=str(tmp_path / "empty")), tmp_path / "asc")


# ----------------------------------------------------------------------------- AudioSet

@pytest.fixture
def audioset_server(server, tmp_path):
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    return server, url


def audioset_sources(tmp_path, url, **overrides):
    return sources(tmp_path, audioset_csv_url=url, audioset_ontology_url=f"{url}/ontology.json",
                   **overrides)


def test_audioset_from_a_clips_folder_counts_every_clip(audioset_server, tmp_path, capsys):
    server, url = audioset_server
    clips = make_clips_dir(tmp_path / "clips")
    counts = acquire_audioset(audioset_sources(tmp_path, url, audioset_clips_dir=str(clips)),
                              tmp_path / "aet", progress=False)
    expected = {"present": 2, "missing": 1, "corrupt": 2, "pending": 0}
    # unbalanced_train's clips wait for make_subsets, which fetches only those it needs
    assert counts == {"balanced_train": expected, "eval": expected,
                      "unbalanced_train": {"present": 0, "missing": 0, "corrupt": 0, "pending": 5}}
    out = tmp_path / "aet"
    layout = read_audioset(out)
    bal = YTIDS["balanced_train"]
    assert [s.ytid for s in layout.segments["balanced_train"]] == bal[:2]
    assert layout.paths[bal[1]] == f"audio/{bal[1]}.wav"          # PANNs' Y<id> renamed
    assert layout.paths[YTIDS["eval"][1]] == f"audio/{YTIDS['eval'][1]}.flac"
    rows = {(a.split, a.ytid): a for a in read_availability(out)}
    assert len(rows) == 15 and rows[("eval", YTIDS["eval"][3])].path == ""
    assert layout.segments["unbalanced_train"] == () and len(layout.listed["unbalanced_train"]) == 5
    # Present clips are linked under their YouTube id; corrupt ones are not linked at all.
    assert sorted(p.name for p in (out / "audio").iterdir()) == sorted(
        Path(path).name for path in layout.paths.values())
    assert len(layout.paths) == 4
    manifest = json.loads((out / "manifest.json").read_text())
    table = manifest["tables"][CLASS_TABLE]
    assert table["sha256"] == hashlib.sha256((out / CLASS_TABLE).read_bytes()).hexdigest()
    assert manifest["clips"]["linked"] == ["hardlink"]
    printed = capsys.readouterr().out
    assert "unbalanced_train" in printed and "present" in printed


def test_malformed_segment_row_names_its_line(audioset_server, tmp_path):
    server, url = audioset_server
    lines = server.files["/csv/eval_segments.csv"].decode().splitlines()
    lines[4] = "abcdefghijk, 30.000, not-a-number, \"/m/09x0r\""
    server.files["/csv/eval_segments.csv"] = ("\n".join(lines) + "\n").encode()
    src = audioset_sources(tmp_path, url, audioset_clips_dir=str(make_clips_dir(tmp_path / "c")))
    with pytest.raises(LayoutError, match=r"eval_segments\.csv:5: start/end seconds") as err:
        acquire_audioset(src, tmp_path / "aet", progress=False)
    assert f"{url}/eval_segments.csv" in str(err.value)
    assert not (tmp_path / "aet").exists()


def test_audioset_without_a_clip_source_fails_before_downloading(audioset_server, tmp_path):
    server, url = audioset_server
    with pytest.raises(SourceError) as err:
        acquire_audioset(audioset_sources(tmp_path, url), tmp_path / "aet", progress=False)
    for key in ("audioset_clips_dir", "audioset_hdf5", "ytdlp"):
        assert f"{KEY}.{key}" in str(err.value)
    assert server.requests == []


def test_audioset_unreachable_names_the_key(tmp_path):
    url = unused_port_url()
    src = audioset_sources(tmp_path, url, audioset_clips_dir=str(tmp_path))
    with pytest.raises(SourceError, match=f"{KEY}.audioset_csv_url"):
        acquire_audioset(src, tmp_path / "aet", progress=False)


def test_audioset_from_a_panns_hdf5_pack(audioset_server, tmp_path):
    h5py = pytest.importorskip("h5py")
    server, url = audioset_server
    ev = YTIDS["eval"]
    # PANNs' layout: 10 s at 32 kHz, the segments' length (padded with zeros when shorter)
    wave = (np.random.default_rng(0).uniform(-0.5, 0.5, (3, 320000)) * 32767).astype(np.int16)
    with h5py.File(tmp_path / "eval.h5", "w") as f:
        f["audio_name"] = np.array([f"Y{ev[0]}.wav".encode(), b"Ynotwanted0.wav",
                                    f"Y{ev[2]}.wav".encode()])
        f["waveform"] = wave
        f["target"] = np.zeros((3, 3), dtype=bool)
    counts = acquire_audioset(audioset_sources(tmp_path, url, audioset_hdf5=str(tmp_path)),
                              tmp_path / "aet", progress=False)
    assert counts["eval"] == {"present": 2, "missing": 3, "corrupt": 0, "pending": 0}
    audio, sr = sf.read(tmp_path / "aet" / "audio" / f"{ev[2]}.wav", dtype="int16")
    assert sr == 32000 and np.array_equal(audio, wave[2])
    assert sf.info(tmp_path / "aet" / "audio" / f"{ev[2]}.wav").subtype == "PCM_16"
    assert not (tmp_path / "aet" / "audio" / "notwanted0.wav").exists()


def panns_pack(h5py, path, names, wave, rate=32000):
    """A pack as PANNs' utils/dataset.py pack_waveforms_to_hdf5 writes it: audio_name S20
    (left empty for a clip whose file was missing), waveform int16 (N, 10 s), target bool
    (N, 527), the sample rate as an attribute."""
    with h5py.File(path, "w") as f:
        f.create_dataset("audio_name", shape=(len(names),), dtype="S20")
        f.create_dataset("waveform", data=wave)
        f.create_dataset("target", shape=(len(names), 527), dtype=bool)
        f.attrs.create("sample_rate", data=rate, dtype=np.int32)
        for i, name in enumerate(names):
            if name:
                f["audio_name"][i] = name.encode()


def test_a_panns_pack_at_another_rate_is_read_at_its_own_rate(audioset_server, tmp_path):
    """PANNs packs state their rate (attrs["sample_rate"]; its config.py makes 32 kHz, others
    repack at 16 kHz). The rate was assumed 32 kHz: a 16 kHz pack's clips were written as
    5 s WAVs at 32 kHz, half speed-up, and reported as cut short. Now they are read at
    16 kHz, and min_sample_rate judges them, naming the clip and the pack."""
    h5py = pytest.importorskip("h5py")
    server, url = audioset_server
    ev = YTIDS["eval"]
    wave = (np.random.default_rng(0).uniform(-0.5, 0.5, (3, 160000)) * 32767).astype(np.int16)
    panns_pack(h5py, tmp_path / "eval.h5", [f"Y{ev[0]}.wav", "", f"Y{ev[2]}.wav"], wave, rate=16000)
    counts = acquire_audioset(audioset_sources(tmp_path, url, audioset_hdf5=str(tmp_path)),
                              tmp_path / "aet", progress=False)
    assert counts["eval"] == {"present": 2, "missing": 3, "corrupt": 0, "pending": 0}
    audio, sr = sf.read(tmp_path / "aet" / "audio" / f"{ev[2]}.wav", dtype="int16")
    assert sr == 16000 and np.array_equal(audio, wave[2])
    with pytest.raises(SourceError, match=rf"clip {ev[0]} is sampled at 16000 Hz.*audioset_hdf5"):
        acquire_audioset(audioset_sources(tmp_path, url, audioset_hdf5=str(tmp_path)),
                         tmp_path / "aet2", progress=False, min_sample_rate=28000)


@pytest.mark.parametrize("damage", ["not_hdf5", "float_waveform", "rows", "no_rate_and_not_10s"])
def test_a_pack_not_in_panns_layout_names_the_pack_and_the_key(audioset_server, tmp_path, damage):
    """A pack that is no HDF5 file, whose waveform is not int16 (N, samples), whose rows do not
    match audio_name, or that states no rate and is not 10 s at 32 kHz, raised a bare OSError,
    IndexError or wrote wrong audio; now a SourceError names the pack, the key and the cause."""
    h5py = pytest.importorskip("h5py")
    server, url = audioset_server
    ev = YTIDS["eval"]
    pack = tmp_path / "pack.h5"
    wave = np.zeros((2, 320000), dtype=np.int16)
    names = [f"Y{ev[0]}.wav", f"Y{ev[1]}.wav"]
    if damage == "not_hdf5":
        pack.write_bytes(b"\x89HDF not really")
    elif damage == "float_waveform":
        panns_pack(h5py, pack, names, wave.astype(np.float32))
    elif damage == "rows":
        panns_pack(h5py, pack, names, wave[:1])
    else:
        panns_pack(h5py, pack, names, wave[:, :200000])
        with h5py.File(pack, "a") as f:
            del f.attrs["sample_rate"]
    expected = {"not_hdf5": r"pack\.h5: not a readable HDF5 file", "float_waveform": r"pack\.h5: 'waveform' is float32",
                "rows": r"pack\.h5: 'waveform' has 1 rows, 'audio_name' 2",
                "no_rate_and_not_10s": r"pack\.h5: no 'sample_rate' attribute, and 'waveform' rows of 200000 samples"}
    with pytest.raises(SourceError, match=expected[damage]):
        acquire_audioset(audioset_sources(tmp_path, url, audioset_hdf5=str(pack)), tmp_path / "aet", progress=False)
    assert not (tmp_path / "aet").exists()


def test_hdf5_without_h5py_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    (tmp_path / "pack.h5").write_bytes(b"")
    with pytest.raises(SourceError, match=r"pip install -e \.\[hdf5\]"):
        acquire_audioset(sources(tmp_path, audioset_hdf5=str(tmp_path / "pack.h5")), tmp_path / "aet")


def test_ytdlp_without_the_tools_fails_clearly_before_downloading(tmp_path, monkeypatch):
    monkeypatch.setattr(ytdlp.shutil, "which", lambda name: None)
    with pytest.raises(SourceError, match=f"{KEY}.ytdlp is true, but yt-dlp and ffmpeg not found"):
        acquire_audioset(sources(tmp_path, ytdlp=True), tmp_path / "aet")


def test_ytdlp_off_never_looks_for_the_tools(audioset_server, tmp_path, monkeypatch):
    def which(name):
        raise AssertionError(f"looked for {name}")
    monkeypatch.setattr(ytdlp.shutil, "which", which)
    _, url = audioset_server
    src = audioset_sources(tmp_path, url, audioset_clips_dir=str(make_clips_dir(tmp_path / "c")))
    assert acquire_audioset(src, tmp_path / "aet", progress=False)["eval"]["present"] == 2


def test_ytdlp_command_fetches_only_the_segment_as_32k_mono_wav(tmp_path):
    tools = ytdlp.Tools("/bin/yt-dlp", "/bin/ffmpeg", ("deno", "/bin/deno"))
    cmd = ytdlp_command(Segment("--PJHxphWEs", 30.0, 40.0, ("/m/09x0r",)), tmp_path, tools, "c.txt")
    assert cmd[0] == "/bin/yt-dlp" and cmd[-1] == "https://www.youtube.com/watch?v=--PJHxphWEs"
    pairs = dict(zip(cmd, cmd[1:]))
    assert pairs["--download-sections"] == "*30-40"
    assert pairs["--audio-format"] == "wav"
    assert pairs["--postprocessor-args"] == "ExtractAudio:-ar 32000 -ac 1"
    assert pairs["--ffmpeg-location"] == "/bin/ffmpeg"
    assert pairs["--output"] == str(tmp_path / "--PJHxphWEs.%(ext)s")
    assert pairs["--js-runtimes"] == "deno:/bin/deno" and pairs["--cookies"] == "c.txt"


# --------------------------------------------------------------------- the stage scripts

def test_stages_acquire_the_paper_world_in_the_synthetic_layout(server, tmp_path, tut):
    _, zips, tsv = tut
    tut_url = serve_dir(server, zips, "/zenodo")
    csv_url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["world"] = "paper"
    params["worlds"]["paper"]["source"] = audioset_sources(
        tmp_path, csv_url, tut2018_url=tut_url, tut2018_files=str(tsv),
        audioset_clips_dir=str(make_clips_dir(tmp_path / "clips"))).model_dump()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for stage, out in (("acquire_asc", "asc"), ("acquire_aet", "aet")):
        done = subprocess.run([sys.executable, f"stages/{stage}.py", "--params",
                               str(tmp_path / "params.yaml"), "--out", str(tmp_path / out)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert len(read_tut2018(tmp_path / "asc").clips) == 8
    layout = read_audioset(tmp_path / "aet")
    assert {s: len(v) for s, v in layout.segments.items()} == {"balanced_train": 2, "eval": 2, "unbalanced_train": 0}
    assert [c.mid for c in layout.classes] == [c.mid for c in CLASSES]


def _shrink_paper_world(params: dict) -> None:
    """The paper world's params cut to the fixture's size: 8 scene clips, 2 clips per split."""
    world = params["worlds"]["paper"]
    world.update(seeds=[0], epochs=4)
    world["convergence"] = {"tolerance": 0.02, "study_epochs": [2, 4], "study_seeds": 1}
    world["model"]["width"] = 4
    world["features"].update(sample_rate=8000, clip_seconds=1.0, n_fft=256, win_length=256,
                             hop_length=256, n_mels=16, fmin=50.0, fmax=4000.0)
    world["ranking"].update(tagger_epochs=1, validation_fraction=0.5)
    events = {"strategy": "abundant", "k": 2, "hours": 0.005}
    world["figures"] = {"fig2": {**events, "alphas": [0.0, 0.5, 1.0]},
                        "fig3a": {"strategies": ["abundant"], "k": 2, "hours": 0.005},
                        "fig3b": {"strategy": "abundant", "k": 2, "hours": [0.002, 0.005]},
                        "fig4": {"strategy": "random", "hours": 0.005, "ks": [2, 3]},
                        "fig5": events, "regularizers": {**events, "dropout": 0.3},
                        "sec41": {"strategy": "abundant", "k": 2, "hours": [0.005], "alphas": [0.9]}}
    params["batch"] = {"asc": 2, "aet": 2}


def make_full_audioset(tables, clips, per_split=6):
    """Tables and a clips folder where every clip is present (labels cycle over CLASSES)."""
    tables.mkdir(parents=True)
    write_class_labels(tables / CLASS_TABLE, CLASSES)
    for split, name in SPLITS.items():
        segs = [Segment(f"{split[:3]}{i:08d}", 30.0, 40.0, (CLASSES[i % 3].mid,)) for i in range(per_split)]
        write_segments_csv(tables / name, segs)
        for i, s in enumerate(segs):
            write_wav(clips / f"{s.ytid}.wav", seconds=10.0, sr=32000, channels=1, subtype="PCM_16", seed=i)
    (tables / "ontology.json").write_text("[]")
    return tables


UP_TO_SUBSETS = [("acquire_asc.py",), ("acquire_aet.py",), ("extract_features.py", "--set", "asc"),
                 ("extract_features.py", "--set", "ranking_pool"), ("rank_events.py",), ("make_subsets.py",)]


def _paper_world_folder(server, tmp_path, tut) -> dict:
    """tmp_path set up for the shrunk paper world, its sources served locally (clips from
    tmp_path/clips); returns its params."""
    _, zips, tsv = tut
    tut_url = serve_dir(server, zips, "/zenodo")
    csv_url = serve_dir(server, make_full_audioset(tmp_path / "tables", tmp_path / "clips"), "/csv")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["world"] = "paper"
    params["worlds"]["paper"]["source"] = audioset_sources(
        tmp_path, csv_url, tut2018_url=tut_url, tut2018_files=str(tsv),
        audioset_clips_dir=str(tmp_path / "clips")).model_dump()
    _shrink_paper_world(params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def test_downstream_stages_run_on_the_acquired_paper_world(server, tmp_path, tut):
    """acquire -> features -> ranking -> subsets -> baselines, all in the paper world."""
    from conftest import run_stage
    _paper_world_folder(server, tmp_path, tut)
    for script, *args in UP_TO_SUBSETS + [("extract_features.py", "--set", "aet_subsets"),
                                          ("train_figure.py", "--figure", "baselines")]:
        run_stage(tmp_path, script, *args)
    ranking = json.loads((tmp_path / "metrics/ranking.json").read_text())
    assert ranking["world"] == "paper" and ranking["classes"] == len(CLASSES)
    baselines = json.loads((tmp_path / "metrics/baselines.json").read_text())
    assert baselines["world"] == "paper"
    assert set(baselines["points"]) == {"asc", "aet"}
    # acquisition left unbalanced_train pending; make_subsets fetched what its subsets take
    layout = read_audioset(tmp_path / "data/aet")
    assert layout.segments["unbalanced_train"] == ()
    fetched = {a.ytid: a for a in read_availability(tmp_path / "data/subsets")}
    union = {line.split(",")[0] for line in (tmp_path / "data/subsets/union.csv").read_text().split()[1:]
             if line.endswith("unbalanced_train")}
    assert union and union <= {y for y, a in fetched.items() if a.status == "present"}
    assert len(fetched) < len(layout.listed["unbalanced_train"])      # not every listed clip
    assert all((tmp_path / "data/subsets" / fetched[y].path).is_file() for y in union)


def test_make_subsets_replaces_a_clip_it_cannot_fetch(server, tmp_path, tut):
    """A clip of the source folder gone: the subsets take the next candidates, T holds."""
    from conftest import run_stage
    params = _paper_world_folder(server, tmp_path, tut)
    for script, *args in UP_TO_SUBSETS:
        run_stage(tmp_path, script, *args)
    first = {sid: {s.ytid for s in read_clip_list(tmp_path / "data/subsets" / e["train"])}
             for sid, e in json.loads((tmp_path / "data/subsets/index.json").read_text()).items()}
    taken = sorted(set().union(*first.values()))
    (tmp_path / "clips" / f"{taken[0]}.wav").unlink()                 # gone from YouTube
    run_stage(tmp_path, "make_subsets.py")
    index = json.loads((tmp_path / "data/subsets/index.json").read_text())
    status = {a.ytid: a.status for a in read_availability(tmp_path / "data/subsets")}
    assert status[taken[0]] == "missing"
    for sid, e in index.items():
        clips = {s.ytid for s in read_clip_list(tmp_path / "data/subsets" / e["train"])}
        assert taken[0] not in clips and all(status[y] == "present" for y in clips)
        assert e["train_hours"] >= e["hours"] - 10 / 3600 / 2
        assert e["replaced"] == (taken[0] in first[sid])
    # the clip source gone since acquisition: a one-line error naming it, the subsets kept
    params["worlds"]["paper"]["source"]["audioset_clips_dir"] = str(tmp_path / "gone")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run([sys.executable, str(REPO / "stages" / "make_subsets.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"audioset_clips_dir = {tmp_path / 'gone'}: no such folder" in done.stderr
    assert json.loads((tmp_path / "data/subsets/index.json").read_text()) == index


# ------------------------------------------------- issue 38: names, folders, encodings

def _table_naming(tmp_path, name, md5="0" * 32):
    tsv = tmp_path / "files.tsv"
    tsv.write_text(f"filename\tbytes\tmd5\n{name}\t9\t{md5}\n")
    return tsv


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "subfolder", "backslash", "parent", "drive", "nul"])
def test_a_file_table_naming_a_path_is_refused_and_deletes_nothing(server, tmp_path, kind):
    """Issue 38 case 1 (and, own case, '..', a drive, a NUL): a filename that is not a plain
    file name is refused naming the table, its line and the value; the file it would land on
    (the user's own zip) is left alone."""
    mine = tmp_path / "home" / "me" / "TUT-urban.audio.1.zip"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"the user's own zip")
    notes = tmp_path / "notes.txt"
    notes.write_text("notes")
    name = {"absolute": str(mine), "dotdot": "../../notes.txt", "subfolder": "sub/x.zip",
            "backslash": "..\\..\\notes.txt", "parent": "..", "drive": "C:x.zip", "nul": "x\x00.zip"}[kind]
    tsv = _table_naming(tmp_path, name)
    url = serve_dir(server, tmp_path / "home", "/zenodo")
    with pytest.raises(LayoutError, match=rf"files\.tsv:2: filename {re.escape(repr(name))}.*plain file name"):
        acquire_tut2018(sources(tmp_path, tut2018_url=url, tut2018_files=str(tsv)), tmp_path / "asc",
                        progress=False)
    assert mine.read_bytes() == b"the user's own zip" and notes.read_text() == "notes"


def test_download_dir_with_a_tilde_is_the_home_folder(tmp_path, tut, monkeypatch):
    """Issue 38 case 10: download_dir: ~/... is under $HOME, not a literal ./~/ folder."""
    _, zips, tsv = tut
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    src = sources(tmp_path, download_dir="~/dl", tut2018_url=zips.as_uri(), tut2018_files=str(tsv))
    acquire_tut2018(src, tmp_path / "asc", progress=False)
    assert (tmp_path / "home" / "dl" / "tut2018" / f"{TUT_FOLDER}.doc.zip").is_file()
    assert not (work / "~").exists()


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_a_file_table_not_in_utf8_says_to_save_it_as_utf8(tmp_path, encoding):
    """Issue 38 case 10: Excel's "Unicode text" (UTF-16) or a cp1252 table is named, with the fix."""
    tsv = tmp_path / "files.tsv"
    tsv.write_bytes(f"filename\tbytes\tmd5\ncaf\u00e9.zip\t9\t{'0' * 32}\n".encode(encoding))
    with pytest.raises(LayoutError, match=r"files\.tsv: not UTF-8.*save it as UTF-8"):
        read_file_table(tsv)
