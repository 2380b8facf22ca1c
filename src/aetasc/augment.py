"""Regularizers applied on the device that holds the batch: SpecAugment and MixUp."""
from __future__ import annotations

import torch
from torch import nn
from torchaudio.transforms import FrequencyMasking, TimeMasking

from .config import AugmentParams


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al. 2019), a different mask per example."""

    def __init__(self, params: AugmentParams, n_mels: int, frames: int):
        super().__init__()
        freq = max(1, int(params.freq_mask_fraction * n_mels))
        time = max(1, int(params.time_mask_fraction * frames))
        masks = []
        for _ in range(params.masks):
            masks += [FrequencyMasking(freq, iid_masks=True), TimeMasking(time, iid_masks=True)]
        self.masks = nn.Sequential(*masks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, mel bins, frames); masked bins take the example's mean value."""
        # torchaudio masks with a constant; the example mean keeps masked regions neutral
        # after standardization instead of drawing a loud "silence".
        mean = x.mean(dim=(-2, -1), keepdim=True)
        return self.masks(x - mean) + mean


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
