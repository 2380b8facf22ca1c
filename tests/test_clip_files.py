"""AudioSet clip files as collections hold them: the usual names (PANNs' Y<id>, DCASE's
Y<id>_<start>_<end>, download scripts' <id>_<start>), compressed formats accepted when their
decoded length is the segment's, and sample rates that cannot carry the front end refused."""
import numpy as np
import pytest
import soundfile as sf

from aetasc.data import audio
from aetasc.config import load_params
from aetasc.data.audioset import Segment, read_audioset, read_availability
from aetasc.data.audioset_source import acquire_audioset, clip_problem, parse_clip_name
from aetasc.data.source import SourceError
from test_paper_world import REPO, YTIDS, audioset_sources, make_audioset_tables, serve_dir, write_wav


@pytest.mark.parametrize("stem, parsed", [
    ("--PJHxphWEs", ("--PJHxphWEs", None)),
    ("Y--PJHxphWEs", ("--PJHxphWEs", None)),                       # PANNs
    ("Y--PJHxphWEs_30.000_40.000", ("--PJHxphWEs", 30.0)),          # DCASE
    ("--PJHxphWEs_30", ("--PJHxphWEs", 30.0)),
    ("--PJHxphWEs_30_40", ("--PJHxphWEs", 30.0)),
    ("Yabcdefghij_5", ("Yabcdefghij", 5.0)),                       # an id that starts with Y
    ("Yabcdefghijk", ("abcdefghijk", None)),
    ("not-an-id", None), ("--PJHxphWEs_x", None), ("--PJHxphWEs.part", None)])
def test_clip_names(stem, parsed):
    assert parse_clip_name(stem) == parsed


def noise(seconds, rate, channels=2, seed=0):
    return (np.random.default_rng(seed).standard_normal((int(seconds * rate), channels)) * 0.1).astype("float32")


def test_a_collection_of_compressed_and_dcase_named_clips(server, tmp_path, monkeypatch):
    url = serve_dir(server, make_audioset_tables(tmp_path / "tables"), "/csv")   # segments are 30-40 s
    ev, bal = YTIDS["eval"], YTIDS["balanced_train"]
    clips = tmp_path / "clips"
    write_wav(clips / f"Y{ev[0]}_30.000_40.000.wav", sr=32000, channels=1, subtype="PCM_16")
    write_wav(clips / "eval" / f"{ev[1]}_30.flac", sr=32000, channels=1, subtype="PCM_16")
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
