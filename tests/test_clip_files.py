"""AudioSet clip files as collections hold them: the usual names (PANNs' Y<id>, DCASE's
Y<id>_<start>_<end>, download scripts' <id>_<start>), compressed formats accepted when their
decoded length is the segment's, and sample rates that cannot carry the front end refused."""
import numpy as np
import pytest
import soundfile as sf

from aetasc.data import audio
from aetasc.config import load_params
from aetasc.data.audioset import Segment, read_audioset, read_availability
from aetasc.data.audioset_source import acquire_audioset, clip_problem
from aetasc.data.clip_names import parse_clip_name
from aetasc.data.source import SourceError
from test_paper_world import REPO, YTIDS, audioset_sources, make_audioset_tables, serve_dir, write_wav


@pytest.mark.parametrize("stem, parsed", [
    ("--PJHxphWEs", ("--PJHxphWEs", None, None)),
    ("Y--PJHxphWEs", ("--PJHxphWEs", None, None)),                   # PANNs
    ("Y--PJHxphWEs_30.000_40.000", ("--PJHxphWEs", 30.0, 40.0)),      # DCASE
    ("--PJHxphWEs_30", ("--PJHxphWEs", 30.0, None)),
    ("--PJHxphWEs_30_40", ("--PJHxphWEs", 30.0, 40.0)),
    ("--PJHxphWEs_30000_40000", ("--PJHxphWEs", 30000.0, 40000.0)),   # milliseconds, as written
    ("--PJHxphWEs_390.0-400.0", ("--PJHxphWEs", 390.0, 400.0)),
    ("Yabcdefghij_5", ("Yabcdefghij", 5.0, None)),                   # an id that starts with Y
    ("Yabcdefghijk", ("abcdefghijk", None, None)),
    ("not-an-id", None), ("--PJHxphWEs_x", None), ("--PJHxphWEs.part", None)])
def test_clip_names(stem, parsed):
    name = parse_clip_name(stem)
    assert (name if name is None else (name.ytid, name.start, name.end)) == parsed


@pytest.mark.parametrize("stem, start, taken", [
    ("abcdefghijk_30000_40000", 30.0, True), ("abcdefghijk_30000_37500", 30.0, True),   # ms; a short segment
    ("abcdefghijk_30_40", 30.0, True), ("abcdefghijk_30000_30010", 30000.0, True),       # seconds, a long video
    ("abcdefghijk_30000", 30.0, True), ("abcdefghijk_30000", 30000.0, True),            # a start alone: either
    ("abcdefghijk_000030", 30.0, True), ("abcdefghijk_0_10000", 0.0, True),
    ("abcdefghijk_30000_40000", 30000.0, False),      # a 10,000 s span is no segment in seconds
    ("abcdefghijk_30_50000", 30.0, False),            # a span that is no segment in either unit
    ("abcdefghijk_30.000_40.000", 0.03, False),       # decimals are seconds
    ("abcdefghijk", 12.0, True)])
def test_which_unit_a_name_is_in_is_decided_by_its_span_or_the_segment(stem, start, taken):
    assert parse_clip_name(stem).is_segment(Segment("abcdefghijk", start, start + 10.0, ())) is taken


def noise(seconds, rate, channels=2, seed=0):
    return (np.random.default_rng(seed).standard_normal((int(seconds * rate), channels)) * 0.1).astype("float32")


def test_a_collection_of_compressed_and_dcase_named_clips(server, tmp_path, monkeypatch):
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")   # segments are 30-40 s
    ev, bal = YTIDS["eval"], YTIDS["balanced_train"]
    clips = tmp_path / "clips"
    write_wav(clips / f"Y{ev[0]}_30.000_40.000.wav", seconds=10.0, sr=32000, channels=1, subtype="PCM_16")
    write_wav(clips / "eval" / f"{ev[1]}_30.flac", seconds=10.0, sr=32000, channels=1, subtype="PCM_16")
    sf.write(clips / f"{ev[2]}.opus", noise(10, 48000), 48000, format="OGG", subtype="OPUS")
    sf.write(clips / f"{ev[3]}.mp3", noise(10, 44100), 44100,
             format="MP3", subtype="MPEG_LAYER_III")
    raw = (clips / f"{ev[3]}.mp3").read_bytes()
    (clips / f"{ev[3]}.mp3").write_bytes(raw[:len(raw) // 2])            # a download cut short
    write_wav(clips / f"{ev[4]}_50.000_60.000.wav", sr=32000, channels=1)  # another segment of the video
    sf.write(clips / f"{bal[0]}.ogg", noise(9.9, 44100), 44100, format="OGG", subtype="VORBIS")
    sf.write(clips / f"{bal[1]}.mp3", noise(10, 44100), 44100, format="MP3", subtype="MPEG_LAYER_III")
    (clips / f"{bal[2]}.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A not decodable here")
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)          # no ffmpeg
    counts = acquire_audioset(audioset_sources(tmp_path, url, audioset_clips_dir=str(clips)), tmp_path / "aet",
                              progress=False, min_sample_rate=28000)
    rows = {a.ytid: a for a in read_availability(tmp_path / "aet")}
    assert {y: rows[y].status for y in ev} == {ev[0]: "present", ev[1]: "present", ev[2]: "present",
                                                ev[3]: "corrupt", ev[4]: "missing"}
    assert rows[ev[3]].reason.startswith(f"{ev[3]}.mp3: truncated: decodes to 4.")
    assert "the segment is 10.000 s (tolerance 0.25 s)" in rows[ev[3]].reason
    assert [rows[y].status for y in bal[:3]] == ["present", "present", "corrupt"]
    assert "install ffmpeg" in rows[bal[2]].reason
    assert counts["eval"]["present"] == 3
    layout = read_audioset(tmp_path / "aet")
    # WAV and FLAC are linked under the id; the Opus/Ogg/MP3 clips are decoded into FLAC, so
    # that every later stage reads a format whose header states its length
    assert [layout.paths[y] for y in (ev[0], ev[1], ev[2], bal[0], bal[1])] == [
        f"audio/{ev[0]}.wav", f"audio/{ev[1]}.flac", f"audio/{ev[2]}.flac", f"audio/{bal[0]}.flac",
        f"audio/{bal[1]}.flac"]
    decoded, rate = sf.read(clips / f"{ev[2]}.opus", dtype="float32")
    written, written_rate = sf.read(tmp_path / "aet" / layout.paths[ev[2]], dtype="float32")
    assert written_rate == rate and np.abs(written - decoded).max() <= 2 ** -15


def test_a_rate_that_cannot_carry_fmax_is_refused_unless_lowered_on_purpose(tmp_path):
    seg = Segment("abcdefghijk", 0.0, 10.0, ("/m/09x0r",))
    write_wav(tmp_path / "low.wav", seconds=10.0, sr=16000, channels=1)
    with pytest.raises(SourceError, match=r"low.wav: clip abcdefghijk is sampled at 16000 Hz, below 28000 Hz "
                                          r".*worlds.paper.source.min_sample_rate to 16000"):
        clip_problem(tmp_path / "low.wav", seg, 28000)
    assert clip_problem(tmp_path / "low.wav", seg, 16000) is None
    params = load_params(REPO / "params.yaml")
    assert params.worlds.paper.min_sample_rate == 2 * params.worlds.paper.features.fmax
    lowered = params.worlds.paper.source.model_copy(update={"min_sample_rate": 16000})
    assert params.worlds.paper.model_copy(update={"source": lowered}).min_sample_rate == 16000


@pytest.fixture
def server():
    from fixture_server import FixtureServer
    with FixtureServer() as s:
        yield s


# ------------------------------------------- issue 38: every clip checked by its content

def _flac(path, seconds, rate=32000, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, noise(seconds, rate, channels=1, seed=seed), rate, format="FLAC", subtype="PCM_16")
    return path


def test_clips_shorter_than_their_segment_are_not_present_whatever_the_source(server, tmp_path):
    """Issue 38 case 6: a 3 s or 1 s FLAC, or a FLAC cut at 40 %, for a 10 s segment, from a
    clips folder or the mirror, was `present` (one frame read), then zero-padded or refused
    at extraction; now each is decoded whole and `corrupt` with its length."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_hf_mirror import SCHEMA
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")   # segments are 10 s
    ev, bal = YTIDS["eval"], YTIDS["balanced_train"]
    clips = tmp_path / "clips"
    _flac(clips / f"{ev[0]}.flac", 3.0)
    _flac(clips / f"{ev[1]}.flac", 1.0)
    cut = _flac(clips / f"{ev[2]}.flac", 10.0)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 2 // 5])
    write_wav(clips / f"{ev[3]}.wav", seconds=3.0, sr=32000, channels=1, subtype="PCM_16")
    _flac(clips / f"{ev[4]}.flac", 10.0)                                     # the one good clip
    mirror = tmp_path / "mirror" / "data" / "bal_train" / "00.parquet"
    mirror.parent.mkdir(parents=True)
    blobs = [_flac(tmp_path / f"m{i}.flac", s, seed=i).read_bytes() for i, s in enumerate((3.0, 10.0))]
    pq.write_table(pa.table({"video_id": bal[:2], "audio": [{"bytes": b, "path": "x.flac"} for b in blobs],
                             "labels": [["/m/09x0r"]] * 2, "human_labels": [["Speech"]] * 2}, schema=SCHEMA), mirror)
    acquire_audioset(audioset_sources(tmp_path, url, audioset_clips_dir=str(clips), audioset_hf=str(tmp_path / "mirror")),
                     tmp_path / "aet", progress=False)
    rows = {a.ytid: a for a in read_availability(tmp_path / "aet")}
    assert {y: rows[y].status for y in ev} == {ev[0]: "corrupt", ev[1]: "corrupt", ev[2]: "corrupt",
                                                ev[3]: "corrupt", ev[4]: "present"}
    assert "decodes to 3.000 s, the segment is 10.000 s" in rows[ev[0]].reason
    assert "decodes to 1.000 s" in rows[ev[1]].reason and "decodes to 3.000 s" in rows[ev[3]].reason
    assert [rows[y].status for y in bal[:2]] == ["corrupt", "present"]
    assert "decodes to 3.000 s" in rows[bal[0]].reason


def test_a_clip_whose_suffix_lies_is_taken_by_its_content(server, tmp_path):
    """Own case (verified by content, whatever the suffix says): an Ogg Vorbis file named
    .flac was linked as a .flac that extraction cannot trust; now it is decoded into FLAC."""
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    ev = YTIDS["eval"]
    clips = tmp_path / "clips"
    clips.mkdir()
    sf.write(clips / f"{ev[0]}.flac", noise(10, 44100), 44100, format="OGG", subtype="VORBIS")
    acquire_audioset(audioset_sources(tmp_path, url, audioset_clips_dir=str(clips)), tmp_path / "aet",
                     progress=False)
    path = tmp_path / "aet" / read_audioset(tmp_path / "aet").paths[ev[0]]
    assert sf.info(path).format == "FLAC"
    audio.read_audio(path)          # what extraction reads: a format whose header states its length


def test_clips_below_min_sample_rate_name_each_clip_and_its_source(server, tmp_path):
    """Issue 38 case 10: every clip below the rate is named with its source, after the whole
    batch was checked (not the first one, mid-batch)."""
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    ev = YTIDS["eval"]
    clips = tmp_path / "clips"
    for y in ev[:2]:
        write_wav(clips / f"{y}.wav", seconds=10.0, sr=16000, channels=1)
    with pytest.raises(SourceError) as err:
        acquire_audioset(audioset_sources(tmp_path, url, audioset_clips_dir=str(clips)), tmp_path / "aet",
                         progress=False, min_sample_rate=28000)
    msg = str(err.value)
    for y in ev[:2]:
        assert f"{clips / y}.wav: clip {y} is sampled at 16000 Hz, below 28000 Hz" in msg
    assert f"from worlds.paper.source.audioset_clips_dir = {clips}" in msg and "min_sample_rate" in msg


def test_ytdlp_below_min_sample_rate_is_refused_before_the_batch(server, tmp_path, monkeypatch):
    """Issue 38 case 10: yt-dlp writes 32 kHz; a min_sample_rate above it stopped the batch
    at its first clip, unlogged, naming a work file already deleted. Now: before any fetch,
    naming the source and the key; and a clip checked during the batch is logged, not raised."""
    from aetasc.data import audioset_source, ytdlp
    monkeypatch.setattr(audioset_source.ytdlp, "require_ytdlp", lambda key: ytdlp.Tools("yt-dlp", "ffmpeg", None))
    monkeypatch.setattr(audioset_source.ytdlp, "fetch_with_ytdlp", lambda *a, **k: pytest.fail("fetched"))
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")
    with pytest.raises(SourceError, match=r"yt-dlp writes clips at 32000 Hz, below 40000 Hz.*min_sample_rate"):
        acquire_audioset(audioset_sources(tmp_path, url, ytdlp=True), tmp_path / "aet", progress=False,
                         min_sample_rate=40000)
    seg = Segment("abcdefghijk", 0.0, 10.0, ("/m/09x0r",))
    work = tmp_path / ".fetching-abcdefghijk" / "abcdefghijk.wav"
    write_wav(work, seconds=10.0, sr=16000, channels=1)
    problem = clip_problem(work, seg, 28000, source="yt-dlp", logged=True)
    assert problem.startswith("bad_rate: 16000 Hz") and ".fetching" not in problem


# ------------------------------------------------ clip names stating times in milliseconds

def test_names_stating_milliseconds_or_a_hyphenated_end_are_their_segment(server, tmp_path):
    """Clip names as published copies of AudioSet write them: integer milliseconds
    (`Y<id>_30000_40000`, `<id>_30000` as the strong labels' segment ids), zero-padded seconds
    (`<id>_000030`, VGGSound's form), `<id>_30.0-40.0` (audioset-download). Were `missing` ("in
    no clip source", 30000 taken for seconds; the hyphen not parsed); now each is the 30-40 s
    segment, and a name stating another segment, in either unit, is not taken."""
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")   # segments are 30-40 s
    ev, bal = YTIDS["eval"], YTIDS["balanced_train"]
    clips = tmp_path / "clips"
    for name in (f"Y{ev[0]}_30000_40000.wav", f"{ev[1]}_30000_40000.flac", f"{ev[2]}_30000.wav",
                 f"{ev[3]}_000030.wav", f"{ev[4]}_30.0-40.0.wav",
                 f"{bal[0]}_50000_60000.wav", f"{bal[1]}_50_60.wav", f"{bal[2]}_40000.wav"):
        write_wav(clips / name, seconds=10.0, sr=32000, channels=1, subtype="PCM_16")
    acquire_audioset(audioset_sources(tmp_path, url, audioset_clips_dir=str(clips)), tmp_path / "aet",
                     progress=False)
    rows = {a.ytid: a for a in read_availability(tmp_path / "aet")}
    assert [rows[y].status for y in ev] == ["present"] * 5
    assert [rows[y].status for y in bal[:3]] == ["missing"] * 3
