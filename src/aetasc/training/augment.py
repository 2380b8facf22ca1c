"""Regularizers applied on the device that holds the batch: SpecAugment and MixUp."""
from __future__ import annotations

import torch
from torch import nn

from aetasc.config import AugmentParams


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al. 2019), a different mask per example."""

    def __init__(self, params: AugmentParams, n_mels: int, frames: int):
        super().__init__()
        self.freq = max(1, int(params.freq_mask_fraction * n_mels))
        self.time = max(1, int(params.time_mask_fraction * frames))
        self.masks = params.masks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, mel bins, frames); masked bins take the example's mean value."""
        # Masking the centred input with zeros keeps masked regions neutral after
        # standardization instead of drawing a loud "silence".
        mean = x.mean(dim=(-2, -1), keepdim=True)
        x = x - mean
        for _ in range(self.masks):
            x = mask_band(x, self.freq, dim=2)
            x = mask_band(x, self.time, dim=3)
        return x + mean


def mask_band(x: torch.Tensor, max_width: int, dim: int) -> torch.Tensor:
    """Zero one band of `x` (batch, channels, bins, frames) along `dim` per example.

    Width ~ U[0, max_width), start ~ U[0, size - width), both floored; the draws and their
    order are torchaudio's `mask_along_axis_iid`, so a seed masks what it masked there.
    """
    size = x.size(dim)
    width = torch.rand(x.shape[:2], device=x.device, dtype=x.dtype) * max_width
    start = torch.rand(x.shape[:2], device=x.device, dtype=x.dtype) * (size - width)
    first = start.long()[..., None, None]
    end = (start.long() + width.long())[..., None, None]
    pos = torch.arange(0, size, device=x.device, dtype=x.dtype)
    x = x.transpose(dim, -1)
    return x.masked_fill((pos >= first) & (pos < end), 0.0).transpose(dim, -1)


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp (Zhang et al. 2018) within a batch, one lambda ~ Beta(alpha, alpha) per example.

    y holds one-hot scene targets or multi-hot event targets (float); both are mixed the
    same way, so the losses take soft targets.
    """
    n = x.shape[0]
    if n < 2:
        return x, y
    # drawn where the batch is: a draw on the host and a copy would stall the GPU every step
    conc = torch.tensor(float(alpha), device=x.device)
    lam = torch.distributions.Beta(conc, conc).sample((n,))
    perm = torch.randperm(n, device=x.device)
    lam_x = lam.view(n, *([1] * (x.dim() - 1)))
    lam_y = lam.view(n, *([1] * (y.dim() - 1)))
    return lam_x * x + (1 - lam_x) * x[perm], lam_y * y + (1 - lam_y) * y[perm]
