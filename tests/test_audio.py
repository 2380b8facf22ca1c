"""aetasc.data.audio: real-world files in, fixed-length mono clips out, bad files named and classed."""
import pickle
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from aetasc.data.audio import (BAD_RATE, EMPTY, NON_FINITE, SILENT, TOO_SHORT, TRUNCATED, UNREADABLE, UNTRUSTED,
                          AudioError, load_clip, wav_data_shortfall)

SR = 16000
CLIP = SR  # 1 s clips


def sine(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(round(sr * seconds))) / sr)).astype(np.float32)


def peak_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)])


def test_24bit_stereo_48k_wav_is_mixed_and_resampled(tmp_path):
    left = sine(440.0, 48000, 1.0)
    path = tmp_path / "a.wav"
    sf.write(path, np.stack([left, 0.5 * left], axis=1), 48000, subtype="PCM_24")
    clip = load_clip(path, SR, CLIP)
    assert clip.shape == (CLIP,) and clip.dtype == np.float32
    expected = 0.75 * sine(440.0, SR, 1.0)
    inner = slice(200, CLIP - 200)   # away from the resampler's edges
    np.testing.assert_allclose(clip[inner], expected[inner], atol=2e-3)


def test_16bit_flac_44k(tmp_path):
    path = tmp_path / "b.flac"
    sf.write(path, sine(1000.0, 44100, 1.0), 44100, subtype="PCM_16", format="FLAC")
    clip = load_clip(path, SR, CLIP)
    assert clip.shape == (CLIP,)
    assert abs(peak_hz(clip, SR) - 1000.0) <= 1.0


def test_float_wav_at_target_rate_is_exact(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, CLIP).astype(np.float32)
    path = tmp_path / "c.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    np.testing.assert_array_equal(load_clip(path, SR, CLIP), x)


def test_many_channels_are_averaged(tmp_path):
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (CLIP, 6)).astype(np.float32)
    path = tmp_path / "six.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    np.testing.assert_allclose(load_clip(path, SR, CLIP), x.mean(axis=1), atol=1e-7)


def test_short_clip_is_zero_padded(tmp_path):
    x = sine(300.0, SR, 0.4)
    path = tmp_path / "short.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    clip = load_clip(path, SR, CLIP)
    np.testing.assert_array_equal(clip[:len(x)], x)
    assert not clip[len(x):].any()


def test_long_clip_keeps_its_beginning(tmp_path):
    x = np.random.default_rng(2).uniform(-1, 1, int(1.7 * SR) + 3).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    np.testing.assert_array_equal(load_clip(path, SR, CLIP), x[:CLIP])


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_resampling_preserves_frequency(tmp_path, rate):
    path = tmp_path / "tone.wav"
    sf.write(path, sine(1234.0, rate, 1.3), rate, subtype="PCM_16")
    assert abs(peak_hz(load_clip(path, SR, CLIP), SR) - 1234.0) <= 1.0


# ---------------------------------------------------------------------------- bad files

def _valid_wav(path, subtype="PCM_16"):
    sf.write(path, sine(440.0, SR, 1.0), SR, subtype=subtype)


def _cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def garbage(path):
    path.write_bytes(np.random.default_rng(3).bytes(5000))


def zero_bytes(path):
    path.write_bytes(b"")


def header_only(path):
    sf.write(path, np.zeros((0, 1), np.float32), SR)


def truncated_wav(path):
    _valid_wav(path, "PCM_24")
    _cut_in_half(path)


def truncated_float_wav(path):
    _valid_wav(path, "FLOAT")
    _cut_in_half(path)


def truncated_flac(path):
    sf.write(path, np.random.default_rng(4).uniform(-0.5, 0.5, SR), SR, format="FLAC")
    _cut_in_half(path)


def all_zero(path):
    sf.write(path, np.zeros(SR, np.float32), SR, subtype="PCM_16")


def with_nan(path):
    x = sine(440.0, SR, 1.0)
    x[100] = np.nan
    sf.write(path, x, SR, subtype="FLOAT")


def with_inf(path):
    x = sine(440.0, SR, 1.0)
    x[-1] = np.inf
    sf.write(path, x, SR, subtype="FLOAT")


BAD_FILES = [(garbage, UNREADABLE), (zero_bytes, EMPTY), (header_only, EMPTY),
             (truncated_wav, TRUNCATED), (truncated_float_wav, TRUNCATED),
             (truncated_flac, TRUNCATED), (all_zero, SILENT), (with_nan, NON_FINITE),
             (with_inf, NON_FINITE)]


@pytest.mark.parametrize("make, reason", BAD_FILES, ids=[m.__name__ for m, _ in BAD_FILES])
def test_bad_file_raises_its_reason(tmp_path, make, reason):
    path = tmp_path / ("bad.flac" if "flac" in make.__name__ else "bad.wav")
    make(path)
    with pytest.raises(AudioError) as err:
        load_clip(path, SR, CLIP)
    assert err.value.reason == reason
    assert str(path) in str(err.value)


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(AudioError, match="no such file") as err:
        load_clip(tmp_path / "nope.wav", SR, CLIP)
    assert err.value.reason == UNREADABLE


def test_quiet_but_not_silent_is_kept(tmp_path):
    path = tmp_path / "quiet.wav"
    sf.write(path, sine(440.0, SR, 1.0, amp=1e-4), SR, subtype="PCM_16")
    assert np.abs(load_clip(path, SR, CLIP)).max() > 0


def test_silent_after_cropping_is_rejected(tmp_path):
    # Sound only after the first second: the clip the model would see is silence.
    x = np.concatenate([np.zeros(SR, np.float32), sine(440.0, SR, 1.0)])
    path = tmp_path / "late.wav"
    sf.write(path, x, SR, subtype="PCM_16")
    with pytest.raises(AudioError) as err:
        load_clip(path, SR, CLIP)
    assert err.value.reason == SILENT


def test_complete_wav_has_no_shortfall(tmp_path):
    path = tmp_path / "ok.wav"
    _valid_wav(path, "PCM_24")
    assert wav_data_shortfall(path) == 0
    _cut_in_half(path)
    assert wav_data_shortfall(path) > 0


def test_audio_error_survives_pickling():
    err = pickle.loads(pickle.dumps(AudioError("x.wav", TRUNCATED, "short")))
    assert (err.path, err.reason, err.detail) == ("x.wav", TRUNCATED, "short")
    assert str(err) == "x.wav: truncated (short)"


# Hardening: files that used to pass for clips.

def test_one_sample_is_too_short(tmp_path):
    path = tmp_path / "one.wav"
    sf.write(path, np.array([0.5], np.float32), SR, subtype="FLOAT")
    with pytest.raises(AudioError) as err:
        load_clip(path, SR, CLIP)
    assert err.value.reason == TOO_SHORT and "1 frames" in err.value.detail


@pytest.mark.parametrize("rate", [1, 100])
def test_implausible_sample_rates_are_refused(tmp_path, rate):
    path = tmp_path / "slow.wav"
    sf.write(path, np.full(4 * rate, 0.5, np.float32), rate, subtype="FLOAT")
    with pytest.raises(AudioError) as err:
        load_clip(path, SR, CLIP)
    assert err.value.reason == BAD_RATE and f"{rate} Hz" in err.value.detail


def test_a_half_written_ogg_is_refused_not_zero_padded(tmp_path):
    path = tmp_path / "cut.ogg"
    sf.write(path, np.random.default_rng(5).uniform(-0.5, 0.5, 10 * 44100).astype(np.float32), 44100,
             format="OGG", subtype="VORBIS")
    _cut_in_half(path)
    assert 0 < sf.info(path).frames < 10 * 44100         # what the header says covers only what is left
    with pytest.raises(AudioError) as err:
        load_clip(path, SR, CLIP)
    assert err.value.reason == UNTRUSTED


def test_a_long_file_is_read_only_as_far_as_the_clip_needs(tmp_path):
    """10 minutes at 48 kHz: decoding all of it took 330 MB; the clip needs 1 s of it."""
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(6)
    with sf.SoundFile(path, "w", 48000, 2, subtype="PCM_16") as f:
        for _ in range(60):
            f.write(rng.uniform(-0.5, 0.5, (10 * 48000, 2)).astype(np.float32))
    tracemalloc.start()
    clip = load_clip(path, SR, CLIP)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(clip) == CLIP and peak < 5e6              # bytes: 1 s of stereo float32 is 0.4 MB


# ------------------------------------------- a segment's own length checks any format

@pytest.mark.parametrize("fmt, subtype, suffix", [("OGG", "OPUS", "opus"), ("OGG", "VORBIS", "ogg"),
                                                  ("MP3", "MPEG_LAYER_III", "mp3")])
def test_compressed_files_are_read_when_they_last_the_segment(tmp_path, fmt, subtype, suffix):
    from aetasc.data.audio import LENGTH_TOLERANCE_S, WRONG_LENGTH, read_audio
    path = tmp_path / f"clip.{suffix}"
    sf.write(path, np.stack([sine(440.0, 48000, 10.0)] * 2, axis=1), 48000, format=fmt, subtype=subtype)
    with pytest.raises(AudioError) as err:
        read_audio(path)                                  # no length to check it against
    assert err.value.reason == UNTRUSTED
    data, sr = read_audio(path, expected_seconds=10.0)
    assert sr == 48000 and abs(len(data) / sr - 10.0) < 0.06
    assert peak_hz(data[48000:96000, 0], sr) == pytest.approx(440.0, abs=2.0)
    with pytest.raises(AudioError) as err:
        read_audio(path, expected_seconds=10.0 - 2 * LENGTH_TOLERANCE_S)
    assert err.value.reason == WRONG_LENGTH
    raw = path.read_bytes()
    (tmp_path / f"cut.{suffix}").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(AudioError) as err:
        read_audio(tmp_path / f"cut.{suffix}", expected_seconds=10.0)
    assert err.value.reason == TRUNCATED and "the segment is 10.000 s" in err.value.detail


def test_m4a_without_ffmpeg_says_what_to_install(tmp_path, monkeypatch):
    from aetasc.data import audio
    path = tmp_path / "clip.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(AudioError) as err:
        audio.read_audio(path, expected_seconds=10.0)
    assert err.value.reason == UNREADABLE and "install ffmpeg" in err.value.detail
