"""Decode an audio file into one fixed-length mono clip, or say exactly why not.

Decoding uses soundfile (libsndfile): WAV, FLAC, Ogg (Vorbis, Opus), MP3 and the other
formats it reads, at any bit depth; integer samples come back scaled to [-1, 1). M4A/AAC,
which libsndfile cannot read, is decoded by ffmpeg when it is installed. Resampling uses soxr at its default
"HQ" quality: a linear-phase filter with alias rejection far below 16-bit noise, in C, on
numpy arrays, so decoding worker processes never touch torch or its thread pools.

Every way a file can be unusable raises `AudioError` with one of `REASONS`, so a caller can
list bad clips instead of stopping or, worse, training on silence.
"""
from __future__ import annotations

import math
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import soxr
from aetasc.errors import AetascError

UNREADABLE = "unreadable"   # missing, not audio, or a header libsndfile cannot parse
EMPTY = "empty"             # 0 bytes or 0 frames
TRUNCATED = "truncated"     # fewer frames on disk than the header promises, or decoding fails midway
SILENT = "silent"           # peak below SILENT_PEAK
NON_FINITE = "non_finite"   # NaN or Inf samples (float files), or features that are not finite
TOO_SHORT = "too_short"     # shorter than MIN_SECONDS
BAD_RATE = "bad_rate"       # a sample rate below MIN_SAMPLE_RATE
UNTRUSTED = "untrusted_format"   # a format whose length cannot be checked (Ogg, MP3, ...)
WRONG_LENGTH = "wrong_length"    # decoded length differs from the segment's own (end - start)
REASONS = (UNREADABLE, EMPTY, TRUNCATED, SILENT, NON_FINITE, TOO_SHORT, BAD_RATE, UNTRUSTED, WRONG_LENGTH)

# Formats whose header states how many frames the file holds, so that a file cut short is
# caught (WAV's data chunk size, FLAC's STREAMINFO, AIFF's COMM). An Ogg or MP3 file states
# only what was written before it was cut: a half-written one looks complete.
TRUSTED_FORMATS = ("WAV", "WAVEX", "RF64", "W64", "FLAC", "AIFF")
# A file whose expected length is known (an AudioSet segment: end - start) is accepted in any
# format when its decoded length is within this of it: codec priming and padding (AAC 2112
# samples, MP3 up to ~1.2k, Opus pre-skip: < 0.06 s) and cuts at a keyframe fit, a file cut
# short does not.
LENGTH_TOLERANCE_S = 0.25
# Containers libsndfile cannot read (M4A/AAC, WebM as yt-dlp keeps it); ffmpeg decodes them.
FFMPEG_SUFFIXES = (".m4a", ".aac", ".webm")
MIN_SECONDS = 0.04          # 40 ms: four 10 ms frames; no event or scene fits in less
MIN_SAMPLE_RATE = 4000      # Hz: below telephone band; 1 Hz or 100 Hz is a broken header

# -100 dBFS: below one 16-bit step (-90.3 dBFS), so only digital silence, or content a
# 16-bit file could not hold at all, counts as silent.
SILENT_PEAK = 1e-5
# Samples kept past the clip's end before resampling, so the resampler's edge does not
# fall inside the clip.
_RESAMPLE_MARGIN_S = 0.05


class AudioError(AetascError):
    """A file that cannot become a clip; `reason` is one of REASONS."""

    def __init__(self, path: str | Path, reason: str, detail: str = ""):
        super().__init__(str(path), reason, detail)
        self.path, self.reason, self.detail = str(path), reason, detail

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


def read_audio(path: str | Path, frames_needed: Callable[[int], int] | None = None,
               expected_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """The frames of a file as float32 (frames, channels), and its sample rate: all of them,
    or the first frames_needed(sample rate). Only what is returned is read and checked.

    With `expected_seconds` (a segment's end - start) a file of any format is decoded whole
    and accepted when its decoded length is within LENGTH_TOLERANCE_S of it; without, only
    formats whose header states their length are read."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, UNREADABLE, "no such file" if not path.exists() else "not a file")
    if path.stat().st_size == 0:
        raise AudioError(path, EMPTY, "file is 0 bytes")
    if expected_seconds is not None:
        return _read_checking_length(path, expected_seconds)
    try:
        f = sf.SoundFile(path)
    except sf.SoundFileError as err:
        raise AudioError(path, UNREADABLE, str(err)) from None
    with f:
        promised, sr = f.frames, f.samplerate
        if f.format not in TRUSTED_FORMATS:
            raise AudioError(path, UNTRUSTED, f"{f.format} does not state its length, so a file cut "
                                              f"short looks complete; convert it to WAV or FLAC")
        if promised == 0:
            raise AudioError(path, EMPTY, "header announces 0 frames")
        if sr < MIN_SAMPLE_RATE:
            raise AudioError(path, BAD_RATE, f"{sr} Hz, below {MIN_SAMPLE_RATE} Hz")
        if promised < MIN_SECONDS * sr:
            raise AudioError(path, TOO_SHORT, f"{promised} frames ({promised / sr:.4f} s), "
                                              f"shorter than {MIN_SECONDS} s")
        wanted = promised if frames_needed is None else min(promised, frames_needed(sr))
        try:
            data = f.read(wanted, dtype="float32", always_2d=True)
        except sf.SoundFileError as err:
            raise AudioError(path, TRUNCATED, f"decoding failed: {err}") from None
    if len(data) < wanted:
        raise AudioError(path, TRUNCATED, f"header promises {promised} frames, read {len(data)} of "
                                          f"the first {wanted}")
    _check_wav_data_size(path)
    if not np.isfinite(data).all():
        raise AudioError(path, NON_FINITE, f"{np.count_nonzero(~np.isfinite(data))} NaN/Inf samples")
    return data, sr


def _read_checking_length(path: Path, expected_seconds: float) -> tuple[np.ndarray, int]:
    if path.suffix.lower() in FFMPEG_SUFFIXES:
        data, sr = decode_with_ffmpeg(path)
    else:
        try:
            data, sr = sf.read(path, dtype="float32", always_2d=True)
        except sf.SoundFileError as err:
            raise AudioError(path, UNREADABLE, str(err)) from None
        _check_wav_data_size(path)
    if len(data) == 0:
        raise AudioError(path, EMPTY, "no frames decoded")
    if sr < MIN_SAMPLE_RATE:
        raise AudioError(path, BAD_RATE, f"{sr} Hz, below {MIN_SAMPLE_RATE} Hz")
    seconds = len(data) / sr
    if abs(seconds - expected_seconds) > LENGTH_TOLERANCE_S:
        raise AudioError(path, TRUNCATED if seconds < expected_seconds else WRONG_LENGTH,
                         f"decodes to {seconds:.3f} s, the segment is {expected_seconds:.3f} s "
                         f"(tolerance {LENGTH_TOLERANCE_S} s)")
    if not np.isfinite(data).all():
        raise AudioError(path, NON_FINITE, f"{np.count_nonzero(~np.isfinite(data))} NaN/Inf samples")
    return data, sr


def decode_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """All frames of a file libsndfile cannot read (M4A/AAC), decoded by ffmpeg at the
    file's own rate and channels."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise AudioError(path, UNREADABLE, f"{path.suffix} (M4A/AAC) cannot be decoded by libsndfile; "
                                           f"install ffmpeg (with ffprobe), e.g. apt install ffmpeg")
    probe = subprocess.run([ffprobe, "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=sample_rate,channels", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True)
    try:
        sr, channels = (int(v) for v in probe.stdout.strip().split(",")[:2])
    except ValueError:
        raise AudioError(path, UNREADABLE, f"ffprobe: {probe.stderr.strip()[-200:] or 'no audio stream'}") from None
    run = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-map", "a:0", "-f", "f32le", "-"],
                         capture_output=True)
    if run.returncode != 0:
        raise AudioError(path, TRUNCATED, f"ffmpeg: {run.stderr.decode(errors='replace').strip()[-200:]}")
    data = np.frombuffer(run.stdout, dtype="<f4")
    return data[:len(data) // channels * channels].reshape(-1, channels), sr


def _check_wav_data_size(path: Path) -> None:
    """Raise TRUNCATED if a RIFF/RF64 'data' chunk claims more bytes than the file holds.

    libsndfile quietly shortens such a file to what is there, so a WAV cut off mid-copy
    would otherwise pass for a short clip.
    """
    missing = wav_data_shortfall(path)
    if missing:
        raise AudioError(path, TRUNCATED, f"WAV data chunk is {missing} bytes shorter than its header says")


def wav_data_shortfall(path: str | Path) -> int:
    """Bytes a WAV's data chunk lacks against its declared size; 0 if complete or not a WAV."""
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:12] != b"WAVE":
            return 0
        ds64_data_size = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return 0
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"ds64":
                ds64_data_size = struct.unpack("<Q", f.read(16)[8:16])[0]
                f.seek(csize - 16 + (csize & 1), 1)
            elif cid == b"data":
                if csize == 0xFFFFFFFF:
                    csize = ds64_data_size
                # A size of 0 (or unknown) is how streaming writers leave it: nothing to check.
                if not csize:
                    return 0
                return max(0, csize - (size - f.tell()))
            else:
                f.seek(csize + (csize & 1), 1)


def load_clip(path: str | Path, sample_rate: int, clip_samples: int) -> np.ndarray:
    """A float32 mono clip of exactly clip_samples at sample_rate.

    Channels are averaged; the file is resampled if needed; a shorter clip is zero-padded at
    the end and a longer one keeps its beginning. Raises AudioError (see REASONS).
    """
    # only the frames the clip needs (and the resampler's margin): a 10-minute file costs
    # what a 10-second one does
    def needed(sr: int) -> int:
        if sr == sample_rate:
            return clip_samples
        return math.ceil(clip_samples * sr / sample_rate) + int(_RESAMPLE_MARGIN_S * sr)

    data, sr = read_audio(path, needed)
    mono = data.mean(axis=1)
    if sr != sample_rate:
        mono = soxr.resample(mono, sr, sample_rate).astype(np.float32, copy=False)
    clip = np.zeros(clip_samples, dtype=np.float32)
    n = min(clip_samples, len(mono))
    clip[:n] = mono[:n]
    peak = float(np.max(np.abs(clip)))
    if peak < SILENT_PEAK:
        raise AudioError(path, SILENT, f"peak {peak:.2e} below {SILENT_PEAK:.0e}")
    return clip
