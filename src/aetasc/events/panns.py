"""PANNs' CNN14 (Kong et al. 2020), a public AudioSet tagger, for ranking event classes.

The ranking stage accepts a released CNN14 checkpoint (e.g. `Cnn14_mAP=0.431.pth`, a dict
whose "model" entry is the state dict) in place of our own tagger. PANNs' training script
saves {'iteration', 'model', 'sampler'}, and its balanced sampler's state holds numpy index
arrays: `load_checkpoint` allows exactly the numpy globals those arrays pickle to under
`weights_only=True` (never False: a checkpoint is code otherwise). CNN14 computes its own
front end from 32 kHz audio: power STFT (1024-sample hann window, 320-sample hop, centred,
reflect padding), 64 Slaney mel bins from 50 Hz to 14 kHz, 10 log10(max(mel, 1e-10)),
then a BatchNorm over the mel bins. This module rebuilds that network so the checkpoint's
weights load into it. The STFT and mel matrices stored in the checkpoint are not used, but
they are compared with ours: PANNs' Cnn14_16k (16 kHz, n_fft 512) and Cnn14_DecisionLevel
{Max,Avg,Att} have the same network keys and shapes, and would otherwise be scored with
the wrong front end or the wrong head. Max and Avg differ from Cnn14 only in how they pool,
so their file name is what tells them apart (a renamed one cannot be told by its weights).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aetasc.errors import AetascError
from aetasc.features.spectral import MelSpectrogram, mel_filterbank

SAMPLE_RATE = 32000
CLIP_SECONDS = 10.0
MEL_BINS = 64
# Buffers of PANNs' torchlibrosa front end; we compute the same front end ourselves.
FRONT_END_KEYS = ("spectrogram_extractor.", "logmel_extractor.")
N_FFT, F_MIN, F_MAX = 1024, 50.0, 14000.0
STFT_KEY, MEL_KEY = "spectrogram_extractor.stft.conv_real.weight", "logmel_extractor.melW"
USE = "use Cnn14_mAP=0.431.pth (Zenodo record 3987831), the 32 kHz clip-level CNN14"

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
        self.melspec = MelSpectrogram(SAMPLE_RATE, n_fft=N_FFT, win_length=N_FFT, hop_length=320,
                                      f_min=F_MIN, f_max=F_MAX, n_mels=MEL_BINS)
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


class Cnn14Error(AetascError, ValueError):
    """A CNN14 checkpoint that is not the 32 kHz clip-level CNN14 this module computes."""


def is_cnn14(state: dict) -> bool:
    """A PANNs CNN14 state dict: the clip-level head, or the decision-level attention head
    (Cnn14_DecisionLevelAtt), which `load_cnn14` refuses by name."""
    return "conv_block1.conv1.weight" in state and ("fc_audioset.weight" in state or "att_block.cla.weight" in state)


def check_front_end(state: dict, path: Path) -> None:
    """The checkpoint's own front end is ours (32 kHz, n_fft 1024, 64 Slaney mels 50 Hz-14 kHz)
    and its head is the clip-level one; otherwise a Cnn14Error naming the file and what to use."""
    if "decisionlevel" in path.name.lower() or any(k.startswith("att_block.") for k in state):
        raise Cnn14Error(f"{path}: a decision-level CNN14 (Cnn14_DecisionLevelMax/Avg/Att), which pools "
                         f"frame-wise outputs or has an attention head; {USE}")
    if STFT_KEY not in state and MEL_KEY not in state:
        raise Cnn14Error(f"{path}: CNN14 checkpoint with no front-end weights ({MEL_KEY}), so which front "
                         f"end it was trained with cannot be checked; {USE}")
    stft = state.get(STFT_KEY)
    want = (N_FFT // 2 + 1, 1, N_FFT)
    if stft is not None and tuple(stft.shape) != want:
        n_fft = stft.shape[-1]
        hint = " (Cnn14_16k: 16 kHz, window 512)" if n_fft == 512 else ""
        raise Cnn14Error(f"{path}: CNN14 trained on a front end with n_fft {n_fft}{hint}, not 1024 at 32 kHz "
                         f"as computed here; {USE}")
    mel = state.get(MEL_KEY)
    if mel is not None:
        ours = mel_filterbank(N_FFT, F_MIN, F_MAX, MEL_BINS, SAMPLE_RATE)
        if tuple(mel.shape) != tuple(ours.shape):
            hint = " (Cnn14_16k: 16 kHz, window 512)" if mel.shape[0] == 257 else ""
            raise Cnn14Error(f"{path}: CNN14 mel filterbank of shape {tuple(mel.shape)}{hint}, not "
                             f"{tuple(ours.shape)} (32 kHz, n_fft 1024, 64 mels); {USE}")
        gap = float((mel.float() - ours).abs().max())
        if gap > 1e-3 * float(ours.abs().max()):
            raise Cnn14Error(f"{path}: CNN14 mel filterbank differs from ours (32 kHz, 64 mels, 50 Hz-14 kHz) "
                             f"by up to {gap:.3g}: another sample rate or band; {USE}")


def load_cnn14(state: dict, path: Path, n_classes: int) -> Cnn14:
    """A CNN14 holding the checkpoint's weights; errors name the file and the mismatch."""
    path = Path(path)
    check_front_end(state, path)
    outputs = state["fc_audioset.weight"].shape[0]
    if outputs != n_classes:
        raise Cnn14Error(f"{path}: CNN14 checkpoint with {outputs} classes, but the pool has "
                         f"{n_classes} (a CNN14 ranks AudioSet's own class table)")
    model = Cnn14(outputs)
    weights = {k: v for k, v in state.items() if not k.startswith(FRONT_END_KEYS)}
    try:
        model.load_state_dict(weights, strict=False)
    except RuntimeError as err:
        raise Cnn14Error(f"{path}: not a CNN14 checkpoint: {err}") from None
    missing = [k for k in model.state_dict() if not k.startswith("melspec.") and k not in weights]
    if missing:
        raise Cnn14Error(f"{path}: CNN14 checkpoint lacks {', '.join(missing[:4])}")
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
