"""PANNs' CNN14 (Kong et al. 2020), a public AudioSet tagger, for ranking event classes.

The ranking stage accepts a released CNN14 checkpoint (e.g. `Cnn14_mAP=0.431.pth`, a dict
whose "model" entry is the state dict) in place of our own tagger. PANNs' training script
saves {'iteration', 'model', 'sampler'}, and its balanced sampler's state holds numpy index
arrays: `load_checkpoint` allows exactly the numpy globals those arrays pickle to under
`weights_only=True` (never False: a checkpoint is code otherwise). CNN14 computes its own
front end from 32 kHz audio: power STFT (1024-sample hann window, 320-sample hop, centred,
reflect padding), 64 Slaney mel bins from 50 Hz to 14 kHz, 10 log10(max(mel, 1e-10)),
then a BatchNorm over the mel bins. This module rebuilds that network so the checkpoint's
weights load into it; the STFT and mel matrices stored in the checkpoint are not needed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aetasc.features.spectral import MelSpectrogram

SAMPLE_RATE = 32000
CLIP_SECONDS = 10.0
MEL_BINS = 64
# Buffers of PANNs' torchlibrosa front end; we compute the same front end ourselves.
FRONT_END_KEYS = ("spectrogram_extractor.", "logmel_extractor.")

_RECONSTRUCT = np.array(0).__reduce__()[0]      # numpy's array unpickler, wherever it lives
# What a pickled integer array refers to: its rebuild function under both module spellings
# (numpy < 2 wrote numpy.core, numpy 2 writes numpy._core; the released files are numpy 1),
# the array and dtype types, and the dtype classes of sampler indexes (int64; int32 where
# numpy 1 defaulted to it, on Windows).
NUMPY_SAMPLER_GLOBALS = [(_RECONSTRUCT, "numpy.core.multiarray._reconstruct"),
                         (_RECONSTRUCT, "numpy._core.multiarray._reconstruct"),
                         np.ndarray, np.dtype, type(np.dtype(np.int64)), type(np.dtype(np.int32))]


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint loaded with weights_only=True, numpy index arrays allowed (PANNs' sampler)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint")
    with torch.serialization.safe_globals(NUMPY_SAMPLER_GLOBALS):
        return torch.load(path, map_location="cpu", weights_only=True)


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn1, self.bn2 = nn.BatchNorm2d(cout), nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, pool: tuple[int, int]) -> torch.Tensor:
        x = F.relu_(self.bn2(self.conv2(F.relu_(self.bn1(self.conv1(x))))))
        return F.avg_pool2d(x, kernel_size=pool)


class Cnn14(nn.Module):
    """CNN14 in inference mode: (batch, samples at 32 kHz) -> (batch, classes) probabilities."""

    def __init__(self, classes: int = 527):
        super().__init__()
        self.melspec = MelSpectrogram(SAMPLE_RATE, n_fft=1024, win_length=1024, hop_length=320,
                                      f_min=50.0, f_max=14000.0, n_mels=MEL_BINS)
        self.bn0 = nn.BatchNorm2d(MEL_BINS)
        widths = (1, 64, 128, 256, 512, 1024, 2048)
        for i in range(6):
            setattr(self, f"conv_block{i + 1}", ConvBlock(widths[i], widths[i + 1]))
        self.fc1 = nn.Linear(2048, 2048)
        self.fc_audioset = nn.Linear(2048, classes)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        x = 10 * torch.log10(self.melspec(waves).clamp(min=1e-10))     # (batch, mels, frames)
        x = x.transpose(1, 2).unsqueeze(1)                               # (batch, 1, frames, mels)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for i in range(6):
            x = getattr(self, f"conv_block{i + 1}")(x, (2, 2) if i < 5 else (1, 1))
        x = x.mean(dim=3)
        x = x.max(dim=2).values + x.mean(dim=2)
        return torch.sigmoid(self.fc_audioset(F.relu_(self.fc1(x))))


def is_cnn14(state: dict) -> bool:
    return "conv_block1.conv1.weight" in state and "fc_audioset.weight" in state


def load_cnn14(state: dict, path: Path, n_classes: int) -> Cnn14:
    """A CNN14 holding the checkpoint's weights; errors name the file and the mismatch."""
    outputs = state["fc_audioset.weight"].shape[0]
    if outputs != n_classes:
        raise ValueError(f"{path}: CNN14 checkpoint with {outputs} classes, but the pool has "
                         f"{n_classes} (a CNN14 ranks AudioSet's own class table)")
    model = Cnn14(outputs)
    weights = {k: v for k, v in state.items() if not k.startswith(FRONT_END_KEYS)}
    try:
        model.load_state_dict(weights, strict=False)
    except RuntimeError as err:
        raise ValueError(f"{path}: not a CNN14 checkpoint: {err}") from None
    missing = [k for k in model.state_dict() if not k.startswith("melspec.") and k not in weights]
    if missing:
        raise ValueError(f"{path}: CNN14 checkpoint lacks {', '.join(missing[:4])}")
    return model.eval()


@torch.no_grad()
def score_audio(model: Cnn14, paths: list[Path], device: torch.device, batch: int = 16) -> np.ndarray:
    """CNN14 probabilities (clips, classes) of audio files, read as 10 s at 32 kHz."""
    from aetasc.data.audio import load_clip
    model.to(device)
    out = []
    for i in range(0, len(paths), batch):
        waves = np.stack([load_clip(p, SAMPLE_RATE, int(SAMPLE_RATE * CLIP_SECONDS)) for p in paths[i:i + batch]])
        out.append(model(torch.from_numpy(waves).to(device)).cpu())
    return torch.cat(out).numpy()
