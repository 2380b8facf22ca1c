"""What a run is: its data (Task, RunData), its settings (RunSpec) and the fingerprint that
names it in the run store; derive_seed, from which every random stream of a run is seeded."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import torch

from aetasc.config import AugmentParams, BatchParams, OptimizerParams
from aetasc.training.identity import code_digest, cpu_capability


@dataclass(frozen=True)
class Task:
    """The clips of one task for one run: features (N, mel bins, frames), targets.

    ASC targets are scene indices (N,), int64; AET targets are multi-hot (N, k), float32.
    """
    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"Task: {len(self.x)} feature rows but {len(self.y)} targets")

    def __len__(self) -> int:
        return len(self.x)


def multi_hot(segments, classes: list[str]) -> torch.Tensor:
    """AET targets of clips (anything with `.labels`): one float32 column per class, in the
    order of `classes`; a label outside them is left out."""
    column = {m: i for i, m in enumerate(classes)}
    y = torch.zeros(len(segments), len(classes))
    for row, s in enumerate(segments):
        for m in s.labels:
            if m in column:
                y[row, column[m]] = 1.0
    return y


@dataclass(frozen=True)
class RunData:
    scenes: tuple[str, ...]
    events: tuple[str, ...]        # mids of the k event classes, in target-column order
    asc_train: Task | None         # None only for a pure event tagger (the ranking's)
    asc_eval: Task | None
    aet_train: Task | None = None  # None only for runs that never use AET (alpha = 0)
    aet_val: Task | None = None
    record: dict | None = None     # what the data holds (clips, hours, rejections): into result.json


@dataclass(frozen=True)
class RunSpec:
    alpha: float
    seed: int
    epochs: int
    width: int
    batch: BatchParams
    optimizer: OptimizerParams
    augment: AugmentParams
    threads: int                      # torch's intra-op threads while it trains (params.yaml: threads)
    init_encoder: str | None = None   # the checkpoint whose encoder starts this run (fine-tuning):
                                      # a path, or an identity resolved by train_run's caller
    data_id: str = ""                 # digest of the run's data: feature rows, targets, classes
    evaluate_at: tuple[int, ...] = () # earlier epochs also evaluated in full: the schedule does
                                      # not depend on the budget, so the model after epoch e is
                                      # the one a run of e epochs ends with (shorter budgets for free)

    def fingerprint(self) -> str:
        """Identifies the run: settings (thread count included), data, code and the CPU's
        instruction set (aetasc.training.identity). Equal fingerprints give equal numbers (on
        the CPU); nothing of another run is ever reused."""
        blob = json.dumps({**asdict(self), "code": code_digest(), "cpu_capability": cpu_capability()},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def derive_seed(*keys) -> int:
    return int.from_bytes(hashlib.sha256(repr(keys).encode()).digest()[:8], "little") >> 1
