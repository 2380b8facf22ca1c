"""The Hugging Face mirror source on parquet shards with the mirror's schema (agkphysics/
AudioSet: video_id, audio as datasets' Audio struct {bytes, path} holding FLAC, labels,
human_labels): an index from the id column alone, only the needed row groups read."""
import hashlib
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from fsspec.implementations.local import LocalFileSystem

from aetasc.data import hf_mirror
from aetasc.data.audioset import read_audioset, read_availability
from aetasc.data.hf_mirror import Mirror, MirrorError, load_index, open_mirror, write_clips
from aetasc.data.audioset_source import acquire_audioset
from aetasc.data.source import SourceError
from aetasc.io import machine_id
from test_paper_world import YTIDS, audioset_sources, make_audioset_tables, serve_dir

SCHEMA = pa.schema([("video_id", pa.string()),
                    ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                    ("labels", pa.list_(pa.string())), ("human_labels", pa.list_(pa.string()))])
RATE = 48000


def flac_bytes(seed: int, seconds: float = 10.0, rate: int = RATE) -> bytes:
    buf = io.BytesIO()
    wave = np.random.default_rng(seed).standard_normal((int(rate * seconds), 2)) * 0.1
    sf.write(buf, wave, rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def write_shard(path, ids, folder, row_group_size=2, rate=RATE, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = {"video_id": ids,
            "audio": [{"bytes": flac_bytes(seed + i, rate=rate), "path": f"audio/{folder}/{y}.flac"}
                      for i, y in enumerate(ids)],
            "labels": [["/m/09x0r"] for _ in ids], "human_labels": [["Speech"] for _ in ids]}
    pq.write_table(pa.table(rows, schema=SCHEMA), path, row_group_size=row_group_size)


def make_mirror(root, held: dict[str, list[str]]):
    """root/data/<split folder>/NN.parquet as the mirror lays them out, 2 clips a row group."""
    for split, ids in held.items():
        folder = hf_mirror.SPLIT_FOLDERS[split]
        for n, start in enumerate(range(0, len(ids), 4)):
            write_shard(root / "data" / folder / f"{n:02d}.parquet", ids[start:start + 4], folder)
    return root


class CountingFS(LocalFileSystem):
    """The local file system, counting the bytes read through it."""
    read = 0

    def _open(self, path, mode="rb", **kwargs):
        f = super()._open(path, mode, **kwargs)
        fs, inner_read = self, f.read

        def read(n=-1):
            data = inner_read(n)
            fs.read += len(data)
            return data
        f.read = read
        return f


@pytest.fixture
def mirror_dir(tmp_path):
    ev, bal, unb = YTIDS["eval"], YTIDS["balanced_train"], YTIDS["unbalanced_train"]
    # the mirror lacks ev[4] and bal[4] (gone from YouTube before it was made)
    return make_mirror(tmp_path / "mirror", {"eval": ev[:4], "balanced_train": bal[:4], "unbalanced_train": unb})


def test_index_from_the_id_column_then_only_the_needed_row_groups(mirror_dir, tmp_path):
    fs = CountingFS()
    mirror = Mirror(fs, (mirror_dir / "data").as_posix(), "test mirror")
    size = sum(p.stat().st_size for p in mirror_dir.rglob("*.parquet"))
    index = load_index(mirror, tmp_path / "index", progress=False)
    assert 0 < fs.read < size / 5                   # footers and id columns, not the audio
    unb = YTIDS["unbalanced_train"]
    assert index.where[unb[4]] == ("unbalanced_train", "unbal_train/01.parquet", 0)
    plan = index.plan({"unbalanced_train": {unb[0], unb[4]}, "eval": {YTIDS["eval"][4]}})
    groups = {(s, g) for s, g in [("unbal_train/00.parquet", 0), ("unbal_train/01.parquet", 0)]}
    assert plan["unbalanced_train"] == {
        "clips_wanted": 2, "clips_held": 2, "row_groups": 2, "row_groups_total": 3,
        "shards": 2, "shards_total": 2, "requests": 2 + 2,
        "bytes": sum(index.groups[g].bytes for g in groups),
        "bytes_total": sum(g.bytes for g in index.groups.values() if g.split == "unbalanced_train")}
    assert plan["eval"]["clips_held"] == 0 and plan["eval"]["row_groups"] == 0
    # the row group sizes are the parquet footer's own
    meta = pq.ParquetFile(mirror_dir / "data/unbal_train/01.parquet").metadata.row_group(0)
    assert index.groups[("unbal_train/01.parquet", 0)].bytes == sum(
        meta.column(c).total_compressed_size for c in range(meta.num_columns))
    # fetching reads those two row groups only, and writes the stored FLAC bytes as they are
    fs.read = 0
    written = write_clips(mirror, index, {unb[0], unb[4]}, tmp_path / "clips", progress=False)
    assert 2 * len(flac_bytes(0)) < fs.read < size / 2
    assert sorted(p.name for p in (tmp_path / "clips").rglob("*.flac")) == sorted([f"{unb[0]}.flac", f"{unb[4]}.flac"])
    data, rate = sf.read(written[unb[4]])
    assert rate == RATE and np.array_equal(data, sf.read(io.BytesIO(flac_bytes(0)))[0])
    # the clips are kept: fetching them again reads nothing
    fs.read = 0
    assert write_clips(mirror, index, {unb[0], unb[4]}, tmp_path / "clips", progress=False) == written
    assert fs.read == 0
    # the index is kept: a second run reads no shard to find the clips
    assert load_index(mirror, tmp_path / "index").where == index.where and fs.read == 0


def test_a_shard_without_the_audio_struct_is_refused_naming_it(tmp_path):
    path = tmp_path / "m" / "eval" / "00.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"video_id": ["abcdefghijk"], "audio": [b"flac"]}), path)
    with pytest.raises(MirrorError, match=r"eval/00.parquet: expected the columns video_id and audio.*"
                                          r"found video_id: string, audio: binary"):
        load_index(open_mirror(str(tmp_path / "m"), None, "k"), tmp_path / "i", progress=False)


@pytest.mark.parametrize("revision", [None, "main"])
def test_a_repo_is_read_at_a_pinned_commit(revision):
    with pytest.raises(MirrorError, match="k_revision = .*40-digit commit"):
        open_mirror("agkphysics/AudioSet", revision, "k")


def test_a_folder_that_is_not_a_mirror_says_so(tmp_path):
    with pytest.raises(MirrorError, match="holds none of bal_train, unbal_train, eval"):
        open_mirror(str(tmp_path), None, "worlds.paper.source.audioset_hf")


def test_acquisition_from_a_local_mirror(mirror_dir, server, tmp_path, capsys):
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    src = audioset_sources(tmp_path, url, audioset_hf=str(mirror_dir))
    counts = acquire_audioset(src, tmp_path / "aet", progress=False, min_sample_rate=28000)
    assert counts["eval"] == {"present": 4, "missing": 1, "corrupt": 0, "pending": 0}
    rows = {a.ytid: a for a in read_availability(tmp_path / "aet")}
    assert rows[YTIDS["eval"][4]].reason == f"not in the mirror {(mirror_dir / 'data').resolve()}"
    layout = read_audioset(tmp_path / "aet")
    assert layout.paths[YTIDS["eval"][0]] == f"audio/{YTIDS['eval'][0]}.flac"
    assert "row groups" in capsys.readouterr().err           # the plan, before reading
    # a 16 kHz mirror cannot carry a 14 kHz fmax: refused naming the clip, the rate and the key
    low = make_mirror(tmp_path / "low", {})
    write_shard(low / "data" / "eval" / "00.parquet", YTIDS["eval"][:1], "eval", rate=16000)
    with pytest.raises(SourceError, match=rf"clip {YTIDS['eval'][0]} is sampled at 16000 Hz, below 28000 Hz.*"
                                          r"worlds.paper.source.min_sample_rate"):
        acquire_audioset(audioset_sources(tmp_path, url, audioset_hf=str(low), download_dir=str(tmp_path / "d2")),
                         tmp_path / "aet2", progress=False, min_sample_rate=28000)


@pytest.fixture
def server():
    from fixture_server import FixtureServer
    with FixtureServer() as s:
        yield s


def test_the_plan_prints_what_fetching_from_the_mirror_reads(tmp_path):
    """python -m aetasc.planning --hf: the row groups and bytes per split, from the kept index."""
    import json
    import subprocess
    import sys

    from aetasc.data.audioset import read_segments_csv
    from test_real_metadata import FULL_UNBALANCED_ROWS, REPO, SAMPLE
    segs = {split: read_segments_csv(SAMPLE / name) for split, name in
            {"balanced_train": "balanced_train_segments.csv", "eval": "eval_segments.csv",
             "unbalanced_train": "unbalanced_train_segments.csv"}.items()}
    mirror = make_mirror(tmp_path / "mirror", {split: [s.ytid for s in v[:8]] for split, v in segs.items()})
    scale = FULL_UNBALANCED_ROWS / len(segs["unbalanced_train"])
    proc = subprocess.run([sys.executable, "-m", "aetasc.planning", "--metadata", str(SAMPLE), "--params",
                           str(REPO / "params.yaml"), "--scale", repr(scale), "--hf", str(mirror),
                           "--out", str(tmp_path / "plan.json")], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reads = json.loads((tmp_path / "plan.json").read_text())["mirror"]
    assert reads["balanced_train"]["clips_wanted"] == len(segs["balanced_train"])
    assert reads["balanced_train"]["clips_held"] == 8 and reads["balanced_train"]["row_groups"] == 4
    assert reads["eval"]["row_groups_total"] == 4
    assert 0 < reads["unbalanced_train"]["clips_wanted"] < len(segs["unbalanced_train"])
    assert "from the mirror" in proc.stdout and "bytes to read" in proc.stdout
    # the index was built in the params' download_dir, relative to where the plan ran
    assert list((tmp_path / "data" / "downloads" / "audioset" / "hf_index").rglob("*.parquet@*.csv"))


class HubStandIn:
    """The Hub's API as HfFileSystem uses it, on 127.0.0.1, serving a folder as one dataset
    repo at one commit: repo info, tree listings, paths-info and range requests on resolve
    URLs. `ranges` records the bytes each resolve request asked for."""
    REPO, REV = "agkphysics/AudioSet", "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, root):
        import json
        import re
        import threading
        import urllib.parse
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        stand_in, self.root, self.ranges = self, root, []

        def entry(rel):
            p = root / rel
            if p.is_dir():
                return {"type": "directory", "oid": "0" * 40, "path": rel}
            # shards are LFS files: the tree gives their sha256 (the Hub's shape)
            return {"type": "file", "oid": "1" * 40, "size": p.stat().st_size, "path": rel,
                    "lfs": {"oid": hashlib.sha256(p.read_bytes()).hexdigest(), "size": p.stat().st_size,
                            "pointerSize": 134}}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code, body, headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def json(self, obj, code=200):
                self.reply(code, json.dumps(obj).encode(), [("Content-Type", "application/json")])

            def do_GET(self):
                path = urllib.parse.unquote(urllib.parse.urlparse(self.path).path)
                api = f"/api/datasets/{stand_in.REPO}"
                if re.fullmatch(rf"{api}/revision/{stand_in.REV}", path):
                    return self.json({"id": stand_in.REPO, "sha": stand_in.REV, "siblings": []})
                if m := re.fullmatch(rf"{api}/tree/{stand_in.REV}/?(.*)", path):
                    if not (root / m[1]).is_dir():      # as the Hub answers a path it lacks
                        return self.reply(404, b"{}", [("X-Error-Code", "EntryNotFound")])
                    return self.json([entry(p.relative_to(root).as_posix()) for p in sorted((root / m[1]).iterdir())])
                if m := re.fullmatch(rf"/datasets/{stand_in.REPO}/resolve/{stand_in.REV}/(.*)", path):
                    data = (root / m[1]).read_bytes()
                    a, b = (int(v) for v in re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers["range"]).groups())
                    stand_in.ranges.append((m[1], b + 1 - a))
                    return self.reply(206, data[a:b + 1], [("Content-Range", f"bytes {a}-{b}/{len(data)}")])
                self.json({"error": f"not found: {path}"}, 404)

            def do_POST(self):
                path = urllib.parse.unquote(urllib.parse.urlparse(self.path).path)
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if path == f"/api/datasets/{stand_in.REPO}/paths-info/{stand_in.REV}":
                    return self.json([entry(p) for p in form.get("paths", []) if (root / p).exists()])
                self.json({"error": f"not found: {path}"}, 404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_the_remote_path_reads_a_pinned_revision_by_range_requests(mirror_dir, tmp_path, monkeypatch):
    """open_mirror on a repo id reads through huggingface_hub's file system: here against a
    stand-in of the Hub's API on 127.0.0.1 (the real Hub is not reachable from the tests)."""
    hub = HubStandIn(mirror_dir)
    try:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        from huggingface_hub import HfFileSystem, constants
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        HfFileSystem.clear_instance_cache()
        mirror = open_mirror(HubStandIn.REPO, HubStandIn.REV, "k")
        assert mirror.name == f"{HubStandIn.REPO}@{HubStandIn.REV}"
        index = load_index(mirror, tmp_path / "index", progress=False)
        shard = mirror_dir / "data" / "unbal_train" / "01.parquet"
        assert index.versions["unbal_train/01.parquet"] == (
            f"{shard.stat().st_size}-{hashlib.sha256(shard.read_bytes()).hexdigest()[:16]}")   # by its content
        local = load_index(open_mirror(str(mirror_dir), None, "k"), tmp_path / "local", progress=False)
        assert index.where == local.where and index.groups == local.groups
        size = sum(p.stat().st_size for p in mirror_dir.rglob("*.parquet"))
        assert 0 < sum(n for _, n in hub.ranges) < size / 5          # footers and id columns only
        assert mirror.pace.taken == len(hub.ranges)                  # every range request paced
        hub.ranges.clear()
        unb = YTIDS["unbalanced_train"]
        written = write_clips(mirror, index, {unb[4]}, tmp_path / "clips", progress=False)
        assert len(hub.ranges) == index.plan({"unbalanced_train": {unb[4]}})["unbalanced_train"]["requests"]
        assert {shard for shard, _ in hub.ranges} == {"data/unbal_train/01.parquet"}
        assert sum(n for _, n in hub.ranges) < index.groups[("unbal_train/01.parquet", 0)].bytes + 70_000
        assert np.array_equal(sf.read(written[unb[4]])[0], sf.read(io.BytesIO(flac_bytes(0)))[0])
    finally:
        HfFileSystem.clear_instance_cache()
        hub.close()


def test_an_unreachable_hub_is_one_error_naming_the_mirror(tmp_path, monkeypatch):
    from huggingface_hub import HfFileSystem, constants
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")         # nobody listens there
    HfFileSystem.clear_instance_cache()
    try:
        mirror = open_mirror("agkphysics/AudioSet", "0" * 40, "k")
        with pytest.raises(MirrorError, match=f"agkphysics/AudioSet@{'0' * 40}: reading the mirror failed"):
            load_index(mirror, tmp_path / "index", progress=False)
        assert not (tmp_path / "index").exists()
    finally:
        HfFileSystem.clear_instance_cache()


# --------------------------------------------------- issue 38: shards and keys under faults

def test_a_truncated_shard_in_a_local_folder_names_the_shard(mirror_dir, tmp_path):
    """Issue 38 case 10: not the mirror root and "check the connection to the Hub"."""
    shard = mirror_dir / "data" / "eval" / "00.parquet"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size * 2 // 5])
    with pytest.raises(MirrorError, match=r"eval/00\.parquet: .*cut short") as err:
        load_index(open_mirror(str(mirror_dir), None, "k"), tmp_path / "i", progress=False)
    assert "connection to the Hub" not in str(err.value)
    # cut after the index was built: fetching names the shard too
    other = make_mirror(tmp_path / "m2", {"eval": YTIDS["eval"][:4]})
    mirror = open_mirror(str(other), None, "k")
    index = load_index(mirror, tmp_path / "i2", progress=False)
    shard = other / "data" / "eval" / "00.parquet"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size * 2 // 5])
    with pytest.raises(MirrorError, match=r"eval/00\.parquet: .*cut short") as err:
        write_clips(mirror, index, {YTIDS["eval"][0]}, tmp_path / "clips", progress=False)
    assert "connection to the Hub" not in str(err.value)


@pytest.mark.parametrize("column, field, message", [
    ("audio", pa.struct([("bytes", pa.string()), ("path", pa.string())]), r"audio\.bytes: string"),
    ("video_id", pa.int64(), r"video_id: int64")])
def test_a_shard_with_a_column_of_the_wrong_type_is_refused_naming_it(tmp_path, column, field, message):
    """Issue 38 case 10: audio.bytes as a string (a bare TypeError before), an int video_id
    (accepted before)."""
    schema = pa.schema([f if f.name != column else pa.field(column, field) for f in SCHEMA])
    rows = {"video_id": [12345678901] if column == "video_id" else ["abcdefghijk"],
            "audio": [{"bytes": "not bytes" if column == "audio" else b"x", "path": "a.flac"}],
            "labels": [["/m/09x0r"]], "human_labels": [["Speech"]]}
    path = tmp_path / "m" / "eval" / "00.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table(rows, schema=schema), path)
    with pytest.raises(MirrorError, match=rf"eval/00\.parquet: .*{message}"):
        load_index(open_mirror(str(tmp_path / "m"), None, "k"), tmp_path / "i", progress=False)


def test_a_row_with_null_bytes_is_reported_as_such(server, tmp_path):
    """Issue 38 case 10: not "in no clip source"."""
    ev = YTIDS["eval"]
    root = make_mirror(tmp_path / "mirror", {"eval": ev[:1]})
    rows = {"video_id": [ev[1]], "audio": [{"bytes": None, "path": f"{ev[1]}.flac"}],
            "labels": [["/m/09x0r"]], "human_labels": [["Speech"]]}
    pq.write_table(pa.table(rows, schema=SCHEMA), root / "data" / "eval" / "01.parquet")
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    acquire_audioset(audioset_sources(tmp_path, url, audioset_hf=str(root)), tmp_path / "aet", progress=False)
    row = {a.ytid: a for a in read_availability(tmp_path / "aet")}[ev[1]]
    assert row.status == "corrupt" and "no audio bytes" in row.reason and "eval/01.parquet" in row.reason


def test_a_revision_with_a_trailing_newline_is_refused():
    """Issue 38 case 10: re.match with $ let "<40 hex digits>\\n" through."""
    with pytest.raises(MirrorError, match="k_revision = .*40-digit commit"):
        open_mirror("agkphysics/AudioSet", "0" * 40 + "\n", "k")


def test_a_revision_with_a_local_folder_is_refused(mirror_dir):
    """Issue 38 case 10: not silently ignored."""
    with pytest.raises(MirrorError, match=r"k_revision = '0{40}'.*local folder.*set it to null"):
        open_mirror(str(mirror_dir), "0" * 40, "k")


def test_a_damaged_index_names_itself_and_says_to_delete_it(mirror_dir, tmp_path):
    """Own case (every error names the file): an index cut short mid-row was a bare
    ValueError from unpacking."""
    mirror = open_mirror(str(mirror_dir), None, "k")
    load_index(mirror, tmp_path / "i", progress=False)
    part = next((tmp_path / "i" / "eval").glob("00.parquet@*.csv"))
    text = part.read_text()
    part.write_text(text[: text.rindex(",")])
    with pytest.raises(MirrorError, match=rf"{part}:\d+: .*delete it to rebuild"):
        load_index(mirror, tmp_path / "i", progress=False)


def test_a_mistyped_local_folder_is_not_taken_for_a_repo_id(tmp_path, monkeypatch):
    """Issue 38 case 10: `data/AudioSett` (one slash, like owner/name) was read as a Hub repo."""
    monkeypatch.chdir(tmp_path)
    make_mirror(tmp_path / "data" / "AudioSet", {"eval": YTIDS["eval"][:1]})
    with pytest.raises(MirrorError, match=r"k = data/AudioSett: no such folder \(.*data/AudioSett\)"):
        open_mirror("data/AudioSett", "0" * 40, "k")
    with pytest.raises(MirrorError, match=r"no such folder"):
        open_mirror("agkphysics/Audio Set", "0" * 40, "k")           # not a valid repo id either
    assert open_mirror("agkphysics/AudioSet", "0" * 40, "k").name == f"agkphysics/AudioSet@{'0' * 40}"


def test_clips_of_one_mirror_are_never_reused_for_another(server, tmp_path):
    """Issue 38 case 5: hf_clips/ was shared, so switching audioset_hf reused the first
    mirror's bytes while the manifest named the second."""
    ev = YTIDS["eval"][:2]
    first, second = make_mirror(tmp_path / "first", {}), make_mirror(tmp_path / "second", {})
    write_shard(first / "data" / "eval" / "00.parquet", ev, "eval")
    write_shard(second / "data" / "eval" / "00.parquet", ev, "eval", seed=100)
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    for n, mirror in enumerate((first, second)):
        acquire_audioset(audioset_sources(tmp_path, url, audioset_hf=str(mirror)), tmp_path / f"aet{n}",
                         progress=False)
    for n, seed in enumerate((0, 100)):
        data, _ = sf.read(tmp_path / f"aet{n}" / "audio" / f"{ev[0]}.flac")
        assert np.array_equal(data, sf.read(io.BytesIO(flac_bytes(seed)))[0])


# ------------------------------------------- issue 38 case 4, issue 39 items 1-3: the index

class OpeningFS(LocalFileSystem):
    """The local file system, recording each file opened."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.opened = []

    def _open(self, path, mode="rb", **kwargs):
        self.opened.append(path.rsplit("/data/", 1)[-1])
        return super()._open(path, mode, **kwargs)


def opening_mirror(root):
    return Mirror(OpeningFS(), (root / "data").as_posix(), "test mirror")


def test_shards_added_later_are_indexed(tmp_path):
    """Issue 38 case 4: unbal_train copied after eval and bal_train was never indexed, so
    every unbalanced clip was `missing` (for good) and replaced."""
    ev, bal, unb = YTIDS["eval"], YTIDS["balanced_train"], YTIDS["unbalanced_train"]
    root = make_mirror(tmp_path / "mirror", {"eval": ev[:4], "balanced_train": bal[:4]})
    mirror = opening_mirror(root)
    assert unb[0] not in load_index(mirror, tmp_path / "index", progress=False).where
    make_mirror(root, {"unbalanced_train": unb})
    mirror.fs.opened.clear()
    index = load_index(mirror, tmp_path / "index", progress=False)
    assert index.where[unb[4]] == ("unbalanced_train", "unbal_train/01.parquet", 0)
    assert sorted(mirror.fs.opened) == ["unbal_train/00.parquet", "unbal_train/01.parquet"]   # only the new


def test_a_rewritten_shard_is_indexed_again(tmp_path):
    """Issue 38 case 4: a shard rewritten with other clips kept its old index entries."""
    ev = YTIDS["eval"]
    root = make_mirror(tmp_path / "mirror", {"eval": ev[:4]})
    mirror = opening_mirror(root)
    load_index(mirror, tmp_path / "index", progress=False)
    write_shard(root / "data" / "eval" / "00.parquet", [ev[4], ev[0]], "eval", row_group_size=1)
    index = load_index(mirror, tmp_path / "index", progress=False)
    assert index.where == {ev[4]: ("eval", "eval/00.parquet", 0), ev[0]: ("eval", "eval/00.parquet", 1)}
    assert write_clips(mirror, index, {ev[0]}, tmp_path / "clips", progress=False).keys() == {ev[0]}


def test_a_shard_changed_after_indexing_names_the_shard_and_the_index(tmp_path):
    """Issue 38 case 4: a rewritten shard gave an Arrow error naming neither."""
    ev = YTIDS["eval"]
    root = make_mirror(tmp_path / "mirror", {"eval": ev[:4]})
    mirror = opening_mirror(root)
    index = load_index(mirror, tmp_path / "index", progress=False)
    write_shard(root / "data" / "eval" / "00.parquet", ev[2:4], "eval")        # one row group, not two
    with pytest.raises(MirrorError, match=r"eval/00\.parquet: row group 1 .*changed since the index "
                                          rf"{tmp_path / 'index'} was built"):
        write_clips(mirror, index, {ev[3]}, tmp_path / "clips", progress=False)


def test_each_shard_is_opened_once(tmp_path):
    """Issue 39 item 1: write_clips opened a shard once per row group it read."""
    ev = YTIDS["eval"]
    root = make_mirror(tmp_path / "mirror", {"eval": ev[:4]})
    mirror = opening_mirror(root)
    index = load_index(mirror, tmp_path / "index", progress=False)
    mirror.fs.opened.clear()
    written = write_clips(mirror, index, {ev[0], ev[3]}, tmp_path / "clips", progress=False)
    assert written.keys() == {ev[0], ev[3]} and mirror.fs.opened == ["eval/00.parquet"]


def test_the_index_is_kept_shard_by_shard_and_resumes_after_a_failure(tmp_path):
    """Issue 39 item 2: every row was kept in memory and written at the end, so a failure
    on the last of 943 shards lost all of them."""
    unb = YTIDS["unbalanced_train"]
    root = make_mirror(tmp_path / "mirror", {"eval": YTIDS["eval"][:4], "unbalanced_train": unb})
    last = root / "data" / "unbal_train" / "01.parquet"
    whole = last.read_bytes()
    last.write_bytes(whole[: len(whole) // 3])
    mirror = opening_mirror(root)
    with pytest.raises(MirrorError, match=r"unbal_train/01\.parquet"):
        load_index(mirror, tmp_path / "index", progress=False)
    last.write_bytes(whole)
    mirror.fs.opened.clear()
    index = load_index(mirror, tmp_path / "index", progress=False)
    # unbal_train/00 was kept; the shard that failed and the one never reached are read now
    assert sorted(mirror.fs.opened) == ["eval/00.parquet", "unbal_train/01.parquet"]
    assert unb[4] in index.where and unb[0] in index.where


def test_reading_the_hub_is_paced_to_its_published_limits(mirror_dir, tmp_path, monkeypatch):
    """Issue 39 item 2: ~18.7 k range requests against the Hub's 3,000 resolver requests per
    5 minutes (anonymous; 5,000 with a token): every read is counted, and none exceeds the
    budget in any 5-minute window."""
    from huggingface_hub import constants
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))    # no stored login
    assert hf_mirror.hub_pace().limit < 3000
    monkeypatch.setenv("HF_TOKEN", "hf_stand_in")
    assert 3000 < hf_mirror.hub_pace().limit < 5000
    now, slept = [0.0], []

    def sleep(s):
        slept.append(s)
        now[0] += s
    pace = hf_mirror.Pace(limit=7, clock=lambda: now[0], sleep=sleep)
    mirror = Mirror(CountingFS(), (mirror_dir / "data").as_posix(), "test mirror", pace=pace)
    load_index(mirror, tmp_path / "index", progress=False)
    assert slept and all(abs(s - 300) < 1e-9 for s in slept)
    assert pace.taken > 7 * len(slept)
    times = sorted(pace.times)
    assert all(b - a >= 300 for a, b in zip(times, times[7:]))        # never 8 in one window


def test_a_revision_before_the_parquet_conversion_names_itself(tmp_path, monkeypatch):
    """Issue 39 item 3: a commit from before "Convert to Parquet format" (WebDataset tars
    data/bal_train00.tar ... and the segment CSVs in data/) gave only "no parquet shard"."""
    data = tmp_path / "old" / "data"
    data.mkdir(parents=True)
    for name in ("bal_train00.tar", "eval00.tar", "unbal_train000.tar", "balanced_train_segments.csv"):
        (data / name).write_bytes(b"x")
    mirror = Mirror(LocalFileSystem(), data.as_posix(), "agkphysics/AudioSet@" + "0" * 40)
    with pytest.raises(MirrorError, match=r"AudioSet@0{40}: .*tar shards \(bal_train00\.tar.*before the mirror's "
                                          r"conversion to parquet.*pin a later commit"):
        load_index(mirror, tmp_path / "index", progress=False)
    with pytest.raises(MirrorError, match=r"tar shards .*before the mirror's conversion to parquet"):
        open_mirror(str(tmp_path / "old"), None, "k")          # a local copy of such a revision
    # and pinned on the Hub, through huggingface_hub's file system (a stand-in of the Hub)
    from huggingface_hub import HfFileSystem, constants
    hub = HubStandIn(tmp_path / "old")
    try:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        HfFileSystem.clear_instance_cache()
        with pytest.raises(MirrorError, match=rf"{HubStandIn.REV}: holds WebDataset tar shards \(bal_train00"):
            load_index(open_mirror(HubStandIn.REPO, HubStandIn.REV, "k"), tmp_path / "hub", progress=False)
        # huggingface_hub before the fix of glob in a missing folder raised EntryNotFoundError
        from huggingface_hub.errors import EntryNotFoundError
        glob = HfFileSystem.glob

        def old_glob(self, path, **kwargs):
            if path.endswith("/*.parquet"):
                raise EntryNotFoundError(path)
            return glob(self, path, **kwargs)
        monkeypatch.setattr(HfFileSystem, "glob", old_glob)
        with pytest.raises(MirrorError, match=r"holds WebDataset tar shards"):
            load_index(open_mirror(HubStandIn.REPO, HubStandIn.REV, "k"), tmp_path / "hub", progress=False)
    finally:
        HfFileSystem.clear_instance_cache()
        hub.close()


def test_the_plan_prices_100_clip_row_groups_and_says_when_to_download_whole_shards(tmp_path):
    """Issue 39 item 1: the mirror's writer puts 100 clips in a row group, so the 31 % of the
    unbalanced split the paper world takes touches essentially every row group; the plan says
    so, in row groups, requests and bytes, and gives the whole-shard download."""
    rng = np.random.default_rng(0)
    ids = [f"u{i:010d}" for i in range(600)]
    clip = flac_bytes(0, seconds=0.01)
    for n in range(3):                      # 3 shards of 2 row groups of 100 clips, as written
        chunk = ids[200 * n: 200 * (n + 1)]
        rows = {"video_id": chunk, "audio": [{"bytes": clip, "path": f"{y}.flac"} for y in chunk],
                "labels": [["/m/09x0r"]] * 200, "human_labels": [["Speech"]] * 200}
        path = tmp_path / "m" / "data" / "unbal_train" / f"{n:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(rows, schema=SCHEMA), path, row_group_size=100)
    repo = f"agkphysics/AudioSet@{'0' * 40}"
    mirror = Mirror(LocalFileSystem(), (tmp_path / "m" / "data").as_posix(), repo)
    index = load_index(mirror, tmp_path / "index", progress=False)
    share = set(rng.choice(ids, size=186, replace=False))            # 31 %
    plan = index.plan({"unbalanced_train": share})["unbalanced_train"]
    assert (plan["row_groups"], plan["row_groups_total"], plan["shards"], plan["requests"]) == (6, 6, 3, 3 + 6)
    assert plan["bytes"] == plan["bytes_total"]
    text = "\n".join(hf_mirror.plan_lines(repo, {"unbalanced_train": plan}))
    assert (f'hf download agkphysics/AudioSet --repo-type dataset --revision {"0" * 40} '
            f'--include "data/unbal_train/*" --local-dir <folder>') in text and "100% of the split" in text
    few = index.plan({"unbalanced_train": {ids[0], ids[1]}})["unbalanced_train"]
    assert (few["row_groups"], few["requests"]) == (1, 2)
    assert "hf download" not in "\n".join(hf_mirror.plan_lines(repo, {"unbalanced_train": few}))
    # a local folder is read from disk already: no download to advise
    assert "hf download" not in "\n".join(hf_mirror.plan_lines(str(tmp_path / "m"), {"unbalanced_train": plan}))


def test_clips_of_a_rewritten_shard_are_written_anew(server, tmp_path):
    """Own case (an input is taken by what it is now): a shard of a local folder rewritten
    with other audio for the same clips kept the clips written from its old version."""
    ev = YTIDS["eval"][:2]
    root = make_mirror(tmp_path / "mirror", {})
    write_shard(root / "data" / "eval" / "00.parquet", ev, "eval")
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    src = audioset_sources(tmp_path, url, audioset_hf=str(root))
    acquire_audioset(src, tmp_path / "aet0", progress=False)
    write_shard(root / "data" / "eval" / "00.parquet", ev, "eval", seed=100)
    acquire_audioset(src, tmp_path / "aet1", progress=False)
    for n, seed in enumerate((0, 100)):
        data, _ = sf.read(tmp_path / f"aet{n}" / "audio" / f"{ev[0]}.flac")
        assert np.array_equal(data, sf.read(io.BytesIO(flac_bytes(seed)))[0])


def test_the_plan_prices_the_published_mirror_before_its_index_exists(tmp_path, monkeypatch, capsys):
    """Issue 39 item 1: without --hf the plan gave the mirror no cost at all, and the docs
    said ~0.75 TB for the unbalanced clips; from agkphysics/AudioSet's published layout
    (1,738,788 unbalanced clips, 100 a row group, ~1.39 MB a clip) the paper world's
    ~0.54 M clips touch all 17,388 row groups: the whole split."""
    from aetasc.planning.__main__ import main
    from test_real_metadata import FULL_UNBALANCED_ROWS, REPO, SAMPLE
    monkeypatch.chdir(tmp_path)
    from aetasc.data.audioset import read_segments_csv
    rows = len(read_segments_csv(SAMPLE / "unbalanced_train_segments.csv"))
    plan = main(["--metadata", str(SAMPLE), "--params", str(REPO / "params.yaml"),
                 "--scale", repr(FULL_UNBALANCED_ROWS / rows)])
    unb = plan["mirror_estimate"]["unbalanced_train"]
    assert 0.5e6 < unb["clips_wanted"] < 0.6e6
    assert unb["row_groups"] == unb["row_groups_total"] == 17_388 and 2.3e12 < unb["bytes"] < 2.5e12
    out = capsys.readouterr().out
    assert "~18,690 range requests, at least 35 min" in out and "21 min with HF_TOKEN" in out
    assert '--include "data/unbal_train/*"' in out
    # one 11-hour subset (~4 k clips) still touches a fifth of the row groups: ~0.5 TB
    small = hf_mirror.estimate_plan({"unbalanced_train": 4000})["unbalanced_train"]
    assert 3500 < small["row_groups"] < 3650 and 0.45e12 < small["bytes"] < 0.55e12


# ------------------------------------------------ temporaries of one process, one machine

def test_another_workers_temporaries_are_never_taken_or_deleted(mirror_dir, tmp_path):
    """The mirror's temporaries were `<clip>.<pid>.partial` and `<shard>.csv.<pid>.partial`:
    a worker of another machine (or container) sharing download_dir with the same pid
    wrote into the other's temporary and renamed it away. Now each is named by machine, pid
    and a token; a dead process's are deleted, another's are left."""
    import os
    mirror = Mirror(LocalFileSystem(), (mirror_dir / "data").as_posix(), "test mirror")
    index = load_index(mirror, tmp_path / "index", progress=False)
    ev = YTIDS["eval"][0]
    shard = index.where[ev][1]
    out = tmp_path / "clips" / f"{shard}@{index.versions[shard]}"
    out.mkdir(parents=True)
    theirs = out / f"{ev}.flac.{os.getpid()}.partial"
    theirs.write_bytes(b"another worker's bytes")
    dead = out / f".{ev}.flac.{machine_id()}-999999999-0123abcd.partial"
    dead.write_bytes(b"a dead process's bytes")
    written = write_clips(mirror, index, {ev}, tmp_path / "clips", progress=False)
    assert theirs.read_bytes() == b"another worker's bytes" and not dead.exists()
    assert sf.info(written[ev]).frames == 10 * RATE


# ------------------------------------------------------ the earlier layouts of the cache

def test_the_earlier_layouts_are_removed_and_nothing_else(mirror_dir, server, tmp_path, capsys):
    """The index was one file, hf_index/<tag>.csv (+ .json), and clips lay flat in hf_clips/,
    then flat in hf_clips/<tag>/; since the index is kept per shard and clips per shard
    version, those files were never read again nor removed. Now they are removed with one
    line; a file of another name, a folder, or the current layout is kept."""
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    downloads = tmp_path / "downloads" / "audioset"
    tag = "0123456789abcdef"
    old = [downloads / "hf_index" / f"{tag}.csv", downloads / "hf_index" / f"{tag}.json",
           downloads / "hf_index" / f"{tag}.csv.partial", downloads / "hf_clips" / "abcdefghijk.flac",
           downloads / "hf_clips" / "abcdefghijk.flac.partial", downloads / "hf_clips" / tag / "--PJHxphWEs.flac",
           downloads / "hf_clips" / tag / "--PJHxphWEs.flac.1234.partial"]
    kept = [downloads / "hf_index" / "notes.csv", downloads / "hf_clips" / "README.txt",
            downloads / "hf_clips" / "my-own-clips.flac", downloads / "hf_clips" / tag / "data" / "x.flac",
            downloads / "hf_clips" / "abcdefghijk.flac.d" / "y"]
    for path in old + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    (downloads / "hf_clips" / "zyxwvutsrqp.flac").symlink_to(kept[0])     # a link: not ours to judge
    src = audioset_sources(tmp_path, url, audioset_hf=str(mirror_dir), download_dir=str(tmp_path / "downloads"))
    acquire_audioset(src, tmp_path / "aet", progress=False)
    assert [p for p in old if p.exists()] == []
    assert [p for p in kept if not p.is_file()] == [] and (downloads / "hf_clips" / "zyxwvutsrqp.flac").is_symlink()
    err = capsys.readouterr().err
    assert f"{downloads}: removed 7 files (0.0 MB) of the mirror's earlier layout" in err
    acquire_audioset(src, tmp_path / "aet2", progress=False)                # nothing left: no line
    assert "earlier layout" not in capsys.readouterr().err
