"""Power mel spectrograms in plain torch: a centred STFT and a Slaney mel filterbank.

The arithmetic is torchaudio's `MelSpectrogram` (power 2, reflect padding, Slaney scale and
area normalization, a float32 filterbank built from `torch.linspace`), step for step, so
the features are bit for bit those that torchaudio computes; we keep it here because
torchaudio's wheels are built against one torch build each, which rules out a CPU-only
install. The filterbank is checked against librosa's in the tests.
"""
from __future__ import annotations

import math

import torch
from torch import nn

_HZ_PER_MEL = 200.0 / 3            # the Slaney scale: linear below 1 kHz ...
_LOG_MEL_START = 1000.0 / _HZ_PER_MEL
_MELS_PER_LOG_HZ = math.log(6.4) / 27.0   # ... logarithmic above


def hz_to_mel(hz: float) -> float:
    if hz >= 1000.0:
        return _LOG_MEL_START + math.log(hz / 1000.0) / _MELS_PER_LOG_HZ
    return hz / _HZ_PER_MEL


def mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    hz = _HZ_PER_MEL * mels
    above = mels >= _LOG_MEL_START
    hz[above] = 1000.0 * torch.exp(_MELS_PER_LOG_HZ * (mels[above] - _LOG_MEL_START))
    return hz


def mel_filterbank(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int) -> torch.Tensor:
    """(n_freqs, n_mels) triangular filters on the Slaney scale, each of unit area."""
    freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    edges = mel_to_hz(torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    widths = edges[1:] - edges[:-1]
    slopes = edges.unsqueeze(0) - freqs.unsqueeze(1)           # (n_freqs, n_mels + 2)
    rising = (-1.0 * slopes[:, :-2]) / widths[:-1]
    falling = slopes[:, 2:] / widths[1:]
    fb = torch.max(torch.zeros(1), torch.min(rising, falling))
    fb *= (2.0 / (edges[2:n_mels + 2] - edges[:n_mels])).unsqueeze(0)
    empty = (fb.max(dim=0).values == 0.0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"mel filters {empty} of {n_mels} cover no STFT bin: fewer mel bins "
                         f"(n_mels) or a longer FFT (n_fft = {2 * (n_freqs - 1)}) needed")
    return fb


class MelSpectrogram(nn.Module):
    """(..., samples) -> (..., n_mels, frames) power mel spectrogram (hann window, centred)."""

    def __init__(self, sample_rate: int, n_fft: int, win_length: int, hop_length: int,
                 f_min: float, f_max: float, n_mels: int):
        super().__init__()
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        self.register_buffer("window", torch.hann_window(win_length))
        self.register_buffer("fb", mel_filterbank(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate))

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        shape = waves.shape
        spec = torch.stft(waves.reshape(-1, shape[-1]), n_fft=self.n_fft, hop_length=self.hop_length,
                          win_length=self.win_length, window=self.window, center=True,
                          pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
        power = spec.reshape(shape[:-1] + spec.shape[-2:]).abs().pow(2.0)
        return torch.matmul(power.transpose(-1, -2), self.fb).transpose(-1, -2)
