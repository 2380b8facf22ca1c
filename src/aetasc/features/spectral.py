"""Power mel spectrograms: torch's centred STFT and librosa's Slaney mel filterbank.

The STFT and the matrix product follow torchaudio's `MelSpectrogram` (power 2, reflect
padding); the filterbank is `librosa.filters.mel` (Slaney scale and area normalization,
float32), the field's reference. The project depends on neither torchaudio nor
torchvision (docs/environment.md says why).
"""
from __future__ import annotations

import warnings

import librosa
import torch
from torch import nn


def mel_filterbank(n_fft: int, f_min: float, f_max: float, n_mels: int, sample_rate: int) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) triangular filters on the Slaney scale, each of unit area."""
    with warnings.catch_warnings():
        # librosa only warns of empty filters; an empty filter is a feature that is always 0.
        warnings.filterwarnings("ignore", message="Empty filters detected", category=UserWarning)
        fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max,
                                 htk=False, norm="slaney")
    empty = (fb.max(axis=1) == 0.0).nonzero()[0].tolist()
    if empty:
        raise ValueError(f"mel filters {empty} of {n_mels} cover no STFT bin: fewer mel bins "
                         f"(n_mels) or a longer FFT (n_fft = {n_fft}) needed")
    return torch.from_numpy(fb.T.copy())


class MelSpectrogram(nn.Module):
    """(..., samples) -> (..., n_mels, frames) power mel spectrogram (hann window, centred)."""

    def __init__(self, sample_rate: int, n_fft: int, win_length: int, hop_length: int,
                 f_min: float, f_max: float, n_mels: int):
        super().__init__()
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        self.register_buffer("window", torch.hann_window(win_length))
        self.register_buffer("fb", mel_filterbank(n_fft, f_min, f_max, n_mels, sample_rate))

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        shape = waves.shape
        spec = torch.stft(waves.reshape(-1, shape[-1]), n_fft=self.n_fft, hop_length=self.hop_length,
                          win_length=self.win_length, window=self.window, center=True,
                          pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
        power = spec.reshape(shape[:-1] + spec.shape[-2:]).abs().pow(2.0)
        return torch.matmul(power.transpose(-1, -2), self.fb).transpose(-1, -2)
