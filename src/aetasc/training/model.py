"""The multi-task network of the paper (its Fig. 1c): a ResNet-18 encoder shared by an
ASC head (fully-connected + softmax over scenes) and an AET head (fully-connected +
sigmoid over the k events). Heads return logits; softmax and sigmoid live in the losses
and metrics, where they are numerically safer.
"""
from __future__ import annotations

import torch
from torch import nn


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """ResNet's basic block as torchvision builds it: the same layers, names and order, so
    a seed initializes the same weights and state dicts carry the same keys."""

    def __init__(self, cin: int, cout: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class ResNet18Encoder(nn.Module):
    """ResNet-18 (basic blocks, layers [2, 2, 2, 2]; He et al. 2016) on 1-channel log-mels.

    torchvision's `ResNet` hard-codes 64 channels in its first stage; the synthetic world
    needs a narrower net to train on a laptop, so the stages are stacked here. With width
    64 this is exactly torchvision's ResNet-18 (minus its ImageNet classifier, plus a
    1-channel stem), initialized the same way.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(()))
        self.register_buffer("input_std", torch.ones(()))
        self.stem = nn.Sequential(
            nn.Conv2d(1, width, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        blocks, planes_in = [], width
        for i, planes in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or planes_in != planes:
                down = nn.Sequential(conv1x1(planes_in, planes, stride), nn.BatchNorm2d(planes))
            blocks += [BasicBlock(planes_in, planes, stride, down), BasicBlock(planes, planes)]
            planes_in = planes
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = planes_in
        for m in self.modules():   # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def set_input_stats(self, mean: float, std: float) -> None:
        """Standardize inputs with statistics of the run's training features."""
        self.input_mean.fill_(mean)
        self.input_std.fill_(max(std, 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, mel bins, frames) log-mel -> (batch, out_features) embedding."""
        x = (x - self.input_mean) / self.input_std
        return self.pool(self.blocks(self.stem(x))).flatten(1)


class MultiTaskNet(nn.Module):
    def __init__(self, n_scenes: int, n_events: int, width: int = 64, dropout: float = 0.0):
        super().__init__()
        self.encoder = ResNet18Encoder(width)
        self.dropout = nn.Dropout(dropout)
        # A pure event tagger (the ranking's) has no scenes: a 1-output head it never trains
        # keeps the state dict the same shape as every other run's.
        self.asc_head = nn.Linear(self.encoder.out_features, max(n_scenes, 1))
        self.aet_head = nn.Linear(self.encoder.out_features, max(n_events, 1))

    def forward(self, x: torch.Tensor, n_asc: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One encoder pass over a joint batch whose first n_asc rows are ASC clips.

        Returns (scene logits of the ASC rows, event logits of the AET rows).
        """
        z = self.dropout(self.encoder(x))
        return self.asc_head(z[:n_asc]), self.aet_head(z[n_asc:])
