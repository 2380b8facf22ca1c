"""aetasc.features.extraction and stages/extract_features.py: the front end, extraction, the reader."""
import csv
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch
import yaml

from aetasc.data.audio import load_clip
from aetasc.config import FeatureParams
from aetasc.data.audioset import (Availability, EventClass, Segment, write_availability,
                                  write_class_labels, write_segments_csv)
from aetasc.data.tut2018 import LayoutError, SceneClip, write_tut2018
from aetasc.features.extraction import FeatureError, LogMel, extract_features, open_features, row_digest
from aetasc.features.spectral import mel_filterbank

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(sample_rate=16000, clip_seconds=1.0, n_fft=512, win_length=400, hop_length=160,
             n_mels=32, fmin=50.0, fmax=8000.0, log_offset=1.0e-6)


@pytest.fixture
def small() -> FeatureParams:
    return FeatureParams(**SMALL)


def noise(path: Path, seconds=1.0, sr=16000, channels=1, subtype="PCM_16", seed=0, fmt=None):
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, (int(seconds * sr), channels))
    sf.write(path, x, sr, subtype=subtype, format=fmt)
    return path


def stage_module():
    spec = importlib.util.spec_from_file_location("extract_features_stage",
                                                  REPO / "stages" / "extract_features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------- front end

def reference_logmel(x: np.ndarray, p: FeatureParams) -> np.ndarray:
    """numpy STFT (periodic hann centred in n_fft, reflect padding) + librosa's filterbank."""
    pad = p.n_fft // 2
    xp = np.pad(x, [(0, 0), (pad, pad)], mode="reflect")
    window = np.zeros(p.n_fft)
    left = (p.n_fft - p.win_length) // 2
    window[left:left + p.win_length] = scipy.signal.get_window("hann", p.win_length, fftbins=True)
    starts = range(0, xp.shape[1] - p.n_fft + 1, p.hop_length)
    frames = np.stack([xp[:, s:s + p.n_fft] for s in starts], axis=1)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    fb = librosa.filters.mel(sr=p.sample_rate, n_fft=p.n_fft, n_mels=p.n_mels, fmin=p.fmin,
                             fmax=p.fmax, htk=False, norm="slaney")
    return np.log(np.einsum("mf,btf->bmt", fb, power) + p.log_offset)


def test_logmel_matches_numpy_and_librosa(small):
    rng = np.random.default_rng(0)
    t = np.arange(small.clip_samples) / small.sample_rate
    x = np.stack([0.1 * rng.standard_normal(len(t)), 0.5 * np.sin(2 * np.pi * 440 * t),
                  np.concatenate([np.zeros(len(t) // 2), 1e-3 * rng.standard_normal(len(t) - len(t) // 2)])])
    out = LogMel(small)(torch.from_numpy(x))
    assert out.shape == (3, small.n_mels, small.frames) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), reference_logmel(x, small), atol=1e-4, rtol=0)


def test_filterbank_is_librosas(small):
    # The front end hands its params to librosa in the right places: the same filters, bit
    # for bit (each argument differs from the others here, so a swap would show).
    fb = LogMel(small).mel.fb.numpy().T
    ref = librosa.filters.mel(sr=small.sample_rate, n_fft=small.n_fft, n_mels=small.n_mels,
                              fmin=small.fmin, fmax=small.fmax, htk=False, norm="slaney")
    assert fb.dtype == ref.dtype == np.float32
    np.testing.assert_array_equal(fb, ref)


def test_filterbank_has_unit_area_triangles_on_the_slaney_scale():
    # Independent of librosa: filter m rises from mel edge m to m + 1 and falls to m + 2,
    # edges equally spaced on the Slaney scale (linear to 1 kHz, 27 steps per factor 6.4
    # above), each triangle scaled by 2 / (its width in Hz).
    sr, n_fft, n_mels, fmin, fmax = 16000, 512, 24, 50.0, 8000.0
    def to_mel(f):
        return np.where(f < 1000, f * 3 / 200, 15 + 27 * np.log(np.maximum(f, 1e-9) / 1000) / np.log(6.4))
    def to_hz(m):
        return np.where(m < 15, m * 200 / 3, 1000 * np.exp((m - 15) * np.log(6.4) / 27))
    edges = to_hz(np.linspace(to_mel(np.array(fmin)), to_mel(np.array(fmax)), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    ref = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid))) * 2 / (hi - lo)
    fb = mel_filterbank(n_fft, fmin, fmax, n_mels, sr).numpy()
    assert fb.shape == (n_fft // 2 + 1, n_mels)
    np.testing.assert_allclose(fb.T, ref, rtol=1e-5, atol=1e-9)


def test_a_mel_filter_without_an_stft_bin_is_an_error():
    with pytest.raises(ValueError, match=r"mel filters \[0, 3, .* of 128 .*n_fft = 256"):
        mel_filterbank(256, 0.0, 8000.0, 128, 16000)


def test_logmel_frames_and_input_checks(small):
    params = FeatureParams(**{**SMALL, "hop_length": 333, "clip_seconds": 1.37})
    assert LogMel(params)(torch.zeros(2, params.clip_samples)).shape == (2, 32, params.frames)
    with pytest.raises(ValueError, match="batch, samples"):
        LogMel(small)(torch.zeros(small.clip_samples))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_logmel_follows_its_input_to_the_gpu(small):
    x = torch.randn(4, small.clip_samples)
    front_end = LogMel(small)
    cpu = front_end(x)
    gpu = front_end(x.cuda())
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-3, rtol=1e-4)


# --------------------------------------------------------------------------- extraction

@pytest.fixture
def mixed_clips(tmp_path):
    """Good clips in several formats, and one of each kind of bad file."""
    d = tmp_path / "audio"
    d.mkdir()
    truncated = noise(d / "truncated.wav", subtype="PCM_24")
    truncated.write_bytes(truncated.read_bytes()[:truncated.stat().st_size // 2])
    nan = np.full(16000, 0.1, np.float32)
    nan[5] = np.nan
    sf.write(d / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(d / "zeros.wav", np.zeros(16000), 16000)
    # finite samples whose power overflows float32: the log-mel row would be inf
    sf.write(d / "huge.wav", np.random.default_rng(9).uniform(-1e20, 1e20, 16000).astype(np.float32),
             16000, subtype="FLOAT")
    sf.write(d / "header_only.wav", np.zeros((0, 1)), 16000)
    (d / "garbage.wav").write_bytes(b"RIFF....not audio at all" * 50)
    (d / "zero_bytes.wav").write_bytes(b"")
    clips = [("good0", noise(d / "good0.wav", seconds=1.3, sr=48000, channels=2, subtype="PCM_24")),
             ("garbage", d / "garbage.wav"),
             ("good1", noise(d / "good1.flac", seconds=0.61, sr=44100, seed=1, fmt="FLAC")),
             ("zero_bytes", d / "zero_bytes.wav"),
             ("header_only", d / "header_only.wav"),
             ("truncated", truncated),
             ("good2", noise(d / "good2.wav", channels=3, subtype="FLOAT", seed=2)),
             ("zeros", d / "zeros.wav"),
             ("nan", d / "nan.wav"),
             ("huge", d / "huge.wav"),
             ("missing", d / "missing.wav"),
             ("good3", noise(d / "good3.wav", seconds=0.9, seed=3))]
    expected_rejections = {"garbage": "unreadable", "zero_bytes": "empty", "header_only": "empty",
                           "truncated": "truncated", "zeros": "silent", "nan": "non_finite",
                           "huge": "non_finite", "missing": "unreadable"}
    return clips, expected_rejections


def expected_rows(clips, ids, params):
    paths = dict(clips)
    waves = torch.from_numpy(np.stack([load_clip(paths[i], params.sample_rate, params.clip_samples)
                                       for i in ids]))
    return LogMel(params)(waves).numpy()


def test_bad_clips_are_listed_and_good_rows_are_right(tmp_path, mixed_clips, small):
    clips, expected_rejections = mixed_clips
    out = tmp_path / "features"
    summary = extract_features(clips, small, out, workers=0, batch_size=4, progress=False)
    good = ["good0", "good1", "good2", "good3"]
    assert summary["accepted"] == 4 and summary["clips"] == len(clips)
    assert summary["rejected"] == {"empty": 2, "non_finite": 2, "silent": 1, "truncated": 1,
                                   "unreadable": 2}
    rejected = read_csv(out / "rejected.csv")
    assert {r["clip_id"]: r["reason"] for r in rejected} == expected_rejections
    assert all(r["path"] and r["detail"] for r in rejected)
    table = open_features(out, expected=small)
    assert table.ids == good
    assert table.array.shape == (4, small.n_mels, small.frames) and table.array.dtype == np.float16
    assert np.isfinite(table.array).all()
    np.testing.assert_allclose(table.array.astype(np.float32), expected_rows(clips, good, small),
                               atol=1e-2, rtol=1e-3)
    # each row's digest is a hash of exactly the bytes stored in that row
    assert read_csv(out / "index.csv") == [{"row": str(i), "clip_id": c, "digest": row_digest(table.array[i])}
                                           for i, c in enumerate(good)]
    assert table.digests == [hashlib.blake2b(table.array[i].tobytes(), digest_size=8).hexdigest()
                             for i in range(len(good))]
    settings = json.loads((out / "settings.json").read_text())
    assert settings["features"] == small.model_dump()
    assert settings["shape"] == [4, small.n_mels, small.frames]
    assert settings["versions"]["torch"] == torch.__version__


def test_worker_processes_give_the_same_array(tmp_path, mixed_clips, small):
    clips, _ = mixed_clips
    extract_features(clips, small, tmp_path / "serial", workers=0, batch_size=3, progress=False)
    extract_features(clips, small, tmp_path / "parallel", workers=2, batch_size=3, progress=False)
    serial, parallel = open_features(tmp_path / "serial"), open_features(tmp_path / "parallel")
    assert serial.ids == parallel.ids
    np.testing.assert_array_equal(serial.array, parallel.array)


def test_all_rejected_gives_an_empty_table(tmp_path, small):
    (tmp_path / "bad.wav").write_bytes(b"junk")
    extract_features([("bad", tmp_path / "bad.wav")], small, tmp_path / "out", workers=0, progress=False)
    table = open_features(tmp_path / "out")
    assert len(table) == 0 and table.array.shape == (0, small.n_mels, small.frames)


def test_duplicate_clip_ids_are_refused(tmp_path, small):
    path = noise(tmp_path / "a.wav")
    with pytest.raises(ValueError, match="'a' appears more than once"):
        extract_features([("a", path), ("a", path)], small, tmp_path / "out", workers=0)


def _crash_after_first_batch(monkeypatch):
    calls = []
    real = LogMel.forward

    def forward(self, waves):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("killed mid-extraction")
        return real(self, waves)
    monkeypatch.setattr(LogMel, "forward", forward)


def test_crash_keeps_the_previous_output(tmp_path, mixed_clips, small, monkeypatch):
    clips, _ = mixed_clips
    out = tmp_path / "features"
    extract_features(clips[:3], small, out, workers=0, batch_size=2, progress=False)
    before = open_features(out)
    ids, rows = before.ids, np.array(before.array)
    _crash_after_first_batch(monkeypatch)
    with pytest.raises(RuntimeError, match="killed"):
        extract_features(clips, small, out, workers=0, batch_size=2, progress=False)
    after = open_features(out)
    assert after.ids == ids
    np.testing.assert_array_equal(after.array, rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio", "features"]


def test_crash_leaves_no_output(tmp_path, mixed_clips, small, monkeypatch):
    clips, _ = mixed_clips
    _crash_after_first_batch(monkeypatch)
    with pytest.raises(RuntimeError, match="killed"):
        extract_features(clips, small, tmp_path / "features", workers=0, batch_size=2, progress=False)
    assert not (tmp_path / "features").exists()
    with pytest.raises(FeatureError, match="not a complete features folder"):
        open_features(tmp_path / "features")


def test_folder_without_completion_mark_is_refused(tmp_path, mixed_clips, small):
    clips, _ = mixed_clips
    out = tmp_path / "features"
    extract_features(clips[:3], small, out, workers=0, progress=False)
    (out / "settings.json").unlink()
    with pytest.raises(FeatureError, match="settings.json missing"):
        open_features(out)


def test_mismatched_settings_are_refused(tmp_path, mixed_clips, small):
    clips, _ = mixed_clips
    extract_features(clips[:3], small, tmp_path / "f", workers=0, progress=False)
    other = FeatureParams(**{**SMALL, "n_mels": 40, "hop_length": 200})
    with pytest.raises(FeatureError, match=r"n_mels: extracted with 32, expected 40") as err:
        open_features(tmp_path / "f", expected=other)
    assert "hop_length" in str(err.value) and "sample_rate" not in str(err.value)


def test_rows_maps_ids_and_names_the_first_unknown(tmp_path, mixed_clips, small):
    clips, _ = mixed_clips
    extract_features(clips, small, tmp_path / "f", workers=0, progress=False)
    table = open_features(tmp_path / "f")
    np.testing.assert_array_equal(table.rows(["good3", "good0"]), [3, 0])
    with pytest.raises(KeyError, match="nope: no features .* not in the extracted clip set"):
        table.rows(["good1", "nope", "other"])
    with pytest.raises(KeyError, match=r"truncated: no features .* rejected at extraction \(truncated\)"):
        table.rows(["truncated"])


# ------------------------------------------------------------------------------- stage

def small_params_file(tmp_path: Path) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["world"] = "synthetic"
    raw["worlds"]["synthetic"]["features"] = dict(SMALL)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def tut_folder(root: Path) -> list[SceneClip]:
    """A TUT 2018 layout with real-data variety: 24-bit stereo 48 kHz, FLAC, odd lengths."""
    audio = root / "audio"
    audio.mkdir(parents=True)
    noise(audio / "airport-barcelona-0-0-a.wav", seconds=1.2371, sr=48000, channels=2, subtype="PCM_24")
    noise(audio / "bus-helsinki-1-0-a.wav", seconds=0.7013, sr=44100, channels=2, seed=1)
    noise(audio / "park-london-2-0-a.wav", seconds=1.0, sr=16000, channels=4, subtype="FLOAT", seed=2)
    noise(audio / "tram-paris-3-0-a.wav", seconds=1.0, sr=48000, subtype="PCM_24", seed=3)
    cut = audio / "tram-paris-3-0-a.wav"
    cut.write_bytes(cut.read_bytes()[:cut.stat().st_size // 2])
    clips = [SceneClip("audio/airport-barcelona-0-0-a.wav", "airport", "barcelona-0", "a", "train"),
             SceneClip("audio/bus-helsinki-1-0-a.wav", "bus", "helsinki-1", "a", "train"),
             SceneClip("audio/park-london-2-0-a.wav", "park", "london-2", "a", "evaluate"),
             SceneClip("audio/tram-paris-3-0-a.wav", "tram", "paris-3", "a", "evaluate")]
    write_tut2018(root, clips)
    return clips


def test_stage_asc_end_to_end(tmp_path, small):
    clips = tut_folder(tmp_path / "asc")
    params = small_params_file(tmp_path)
    out = tmp_path / "features" / "asc"
    run = subprocess.run([sys.executable, str(REPO / "stages" / "extract_features.py"),
                          "--set", "asc", "--params", str(params), "--asc", str(tmp_path / "asc"),
                          "--out", str(out)], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "3 of 4 clips extracted, 1 rejected" in run.stdout and "truncated: 1" in run.stdout
    table = open_features(out, expected=small)
    ids = [c.clip_id for c in clips[:3]]
    assert table.ids == ids
    paths = [(c.clip_id, tmp_path / "asc" / c.filename) for c in clips]
    np.testing.assert_allclose(table.array.astype(np.float32), expected_rows(paths, ids, small),
                               atol=1e-2, rtol=1e-3)
    assert [r["clip_id"] for r in read_csv(out / "rejected.csv")] == ["tram-paris-3-0-a"]


def test_stage_asc_refuses_audio_without_label_row(tmp_path):
    tut_folder(tmp_path / "asc")
    stray = noise(tmp_path / "asc" / "audio" / "metro-vienna-9-9-a.wav")
    with pytest.raises(LayoutError, match=f"{stray}: audio file with no label row"):
        stage_module().main(["--set", "asc", "--params", str(small_params_file(tmp_path)),
                             "--asc", str(tmp_path / "asc"), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def audioset_folder(root: Path) -> dict[str, list[str]]:
    """An AudioSet layout: ytids per split, one balanced clip missing, one corrupt on disk."""
    (root / "audio").mkdir(parents=True)
    write_class_labels(root / "class_labels_indices.csv",
                       [EventClass(0, "/m/a", "A"), EventClass(1, "/m/b", "B")])
    splits = {"balanced_train": ["bal00000000", "bal00000001", "bal00000002", "balmissing0"],
              "unbalanced_train": ["unb00000000", "unb00000001"], "eval": ["evl00000000"]}
    files = {"balanced_train_segments.csv": "balanced_train",
             "unbalanced_train_segments.csv": "unbalanced_train", "eval_segments.csv": "eval"}
    rows = []
    for name, split in files.items():
        write_segments_csv(root / name, [Segment(y, 0.0, 1.0, ("/m/a",)) for y in splits[split]])
        for i, ytid in enumerate(splits[split]):
            if ytid == "balmissing0":
                rows.append(Availability(ytid, split, "missing", ""))
                continue
            noise(root / "audio" / f"{ytid}.flac", sr=32000, seed=i, fmt="FLAC")
            rows.append(Availability(ytid, split, "present", f"audio/{ytid}.flac"))
    (root / "audio" / "bal00000002.flac").write_bytes(b"fLaC broken")
    write_availability(root, rows)
    return splits


def run_stage(tmp_path: Path, which: str) -> Path:
    out = tmp_path / "features" / which
    stage_module().main(["--set", which, "--params", str(small_params_file(tmp_path)),
                         "--aet", str(tmp_path / "aet"), "--subsets", str(tmp_path / "subsets"),
                         "--out", str(out), "--workers", "0"])
    return out


def test_stage_ranking_pool(tmp_path, small, capsys):
    audioset_folder(tmp_path / "aet")
    out = run_stage(tmp_path, "ranking_pool")
    assert open_features(out, expected=small).ids == ["bal00000000", "bal00000001"]
    assert read_csv(out / "rejected.csv")[0]["clip_id"] == "bal00000002"
    assert "unreadable: 1" in capsys.readouterr().out


def test_stage_aet_subsets(tmp_path, small):
    audioset_folder(tmp_path / "aet")
    (tmp_path / "subsets").mkdir()
    (tmp_path / "subsets" / "union.csv").write_text(
        "ytid,split\nunb00000001,unbalanced_train\nevl00000000,eval\nunb00000001,unbalanced_train\n")
    out = run_stage(tmp_path, "aet_subsets")
    assert open_features(out, expected=small).ids == ["unb00000001", "evl00000000"]


@pytest.mark.parametrize("ytid, split", [("balmissing0", "balanced_train"), ("nosuchclip0", "eval"),
                                         ("unb00000000", "eval")])
def test_stage_aet_subsets_refuses_clips_not_present(tmp_path, ytid, split):
    audioset_folder(tmp_path / "aet")
    (tmp_path / "subsets").mkdir()
    (tmp_path / "subsets" / "union.csv").write_text(f"ytid,split\nunb00000000,unbalanced_train\n{ytid},{split}\n")
    with pytest.raises(LayoutError, match=f"union.csv:3: clip {ytid} \\(split {split}\\) is not present"):
        run_stage(tmp_path, "aet_subsets")
