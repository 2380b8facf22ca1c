"""A Trainer set up for measurement: random features of a world's shapes, the levers the
benchmark compares pulled (bf16 autocast, channels_last, cuDNN autotuning, fused AdamW,
torch.compile, where the training data lives), and its step timed (tools/bench.py measures
with it)."""
from __future__ import annotations

import gc
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib import format as npy

from aetasc.training.augment import mixup
from aetasc.training.batches import batch_source
from aetasc.config import Params
from aetasc.planning.cost import N_SCENES, Shapes
from aetasc.training.spec import RunData, RunSpec, Task
from aetasc.training.trainer import Trainer

# Any loss weight strictly between 0 and 1 gives the joint step (both tasks in the batch).
JOINT_ALPHA = 0.5


@dataclass(frozen=True)
class Timing:
    """`repeats` timed blocks of `steps` steps after `warmup` untimed ones; the fastest block
    counts: other work on a shared machine only ever adds time."""
    steps: int
    warmup: int
    repeats: int


def synthetic_data(shapes: Shapes, asc_clips: int, aet_clips: int, eval_clips: int) -> RunData:
    """Random float16 features and targets, shaped like a run's data (speed only)."""
    g = torch.Generator().manual_seed(0)

    def features(n: int) -> torch.Tensor:
        return torch.randn(n, shapes.n_mels, shapes.frames, generator=g).half()

    scenes = tuple(f"scene{i}" for i in range(N_SCENES))
    events = tuple(f"/m/event{i}" for i in range(shapes.events))
    aet_y = (torch.rand(aet_clips, shapes.events, generator=g) < 0.1).float()
    return RunData(scenes, events,
                   Task(features(asc_clips), torch.randint(0, N_SCENES, (asc_clips,), generator=g)),
                   Task(features(eval_clips), torch.randint(0, N_SCENES, (eval_clips,), generator=g)),
                   Task(features(aet_clips), aet_y))


def bench_data(params: Params, shapes: Shapes, timing: Timing, eval_clips: int) -> RunData:
    # ASC clips for the longest block of distinct mini-batches; the AET sampler cycles.
    steps = max(timing.steps, timing.warmup)
    return synthetic_data(shapes, steps * params.batch.asc, 2 * params.batch.aet, eval_clips)


@dataclass(frozen=True)
class Levers:
    """How a Trainer is set up for one measurement; None keeps the Trainer's own choice."""
    bf16: bool | None = None
    channels_last: bool | None = None
    cudnn_benchmark: bool | None = None
    fused_adamw: bool | None = None
    compile_mode: str | None = None          # a torch.compile mode; None = eager
    data: str = "default"                    # default | resident | host | host-sync | host-memmap
    bf16_input: bool = False                 # the gathered features go to the network as bf16


class Bf16InputTrainer(Trainer):
    """A candidate measured by the benchmark, not used in training: the float16 features of a
    gathered batch become bfloat16 (what autocast feeds the first convolution anyway) instead
    of float32, halving the input's memory traffic. Otherwise Trainer._augment's steps."""

    def _augment(self, batch):
        xs, parts = [], {}
        aug = self.spec.augment
        for task, n in (("asc", self.n_asc), ("aet", self.n_aet)):
            if not n:
                continue
            x, y = batch[task]
            x = x.to(torch.bfloat16)
            y = F.one_hot(y, len(self.data.scenes)).to(x.dtype) if task == "asc" else y.to(x.dtype)
            if aug.mixup:
                x, y = mixup(x, y, aug.mixup_alpha)
            xs.append(x)
            parts[task] = y.float()
        x = torch.cat(xs).unsqueeze(1)
        if self.specaugment is not None:
            x = self.specaugment(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, parts


def make_trainer(params: Params, shapes: Shapes, data: RunData, device: torch.device,
                 levers: Levers = Levers(), scratch: Path | None = None, alpha: float = JOINT_ALPHA) -> Trainer:
    """The pipeline's Trainer on a joint run (or at `alpha`), with the given levers pulled."""
    spec = RunSpec(alpha=alpha, seed=0, epochs=1, width=shapes.width, batch=params.batch,
                   optimizer=params.optimizer, augment=params.augment, threads=params.threads)
    trainer = (Bf16InputTrainer if levers.bf16_input else Trainer)(spec, data, device)
    if levers.bf16 is not None:
        trainer.autocast = levers.bf16
    if levers.channels_last is not None and levers.channels_last != trainer.channels_last:
        trainer.channels_last = levers.channels_last
        trainer.model.to(memory_format=torch.channels_last if levers.channels_last else torch.contiguous_format)
    if levers.cudnn_benchmark is not None:
        torch.backends.cudnn.benchmark = levers.cudnn_benchmark
    if levers.fused_adamw is not None:
        trainer.optimizer = torch.optim.AdamW(trainer.model.parameters(), lr=params.optimizer.lr,
                                              weight_decay=params.optimizer.weight_decay,
                                              fused=levers.fused_adamw, foreach=not levers.fused_adamw)
        trainer.scheduler = torch.optim.lr_scheduler.LambdaLR(trainer.optimizer, lambda step: 1.0)
    if levers.compile_mode is not None:
        trainer.forward = torch.compile(trainer.model, mode=levers.compile_mode, dynamic=False)
    if levers.data != "default":
        tasks = {"asc": (data.asc_train.x, data.asc_train.y), "aet": (data.aet_train.x, data.aet_train.y)}
        if levers.data == "host-memmap":
            tasks = {name: (_memmap_copy(x, scratch / f"{name}.npy"), y) for name, (x, y) in tasks.items()}
        trainer.batches = batch_source(tasks, device, resident=levers.data == "resident",
                                       prefetch=0 if levers.data == "host-sync" else 2)
    return trainer


def time_trainer(trainer: Trainer, timing: Timing) -> tuple[float, float]:
    """(seconds per step, seconds of the warm-up) of Trainer.train_epoch itself, an epoch cut
    to the block's steps. The warm-up's time shows compilation and autotuning."""
    trainer.steps_per_epoch = timing.warmup
    warm = trainer.train_epoch()["seconds"]
    trainer.steps_per_epoch = timing.steps
    return min(trainer.train_epoch()["seconds"] for _ in range(timing.repeats)) / timing.steps, warm


def timed(params: Params, shapes: Shapes, data: RunData, device: torch.device, timing: Timing,
          levers: Levers = Levers()) -> tuple[float, float]:
    """time_trainer on a fresh Trainer with the levers pulled; global switches restored after."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        try:
            return time_trainer(make_trainer(params, shapes, data, device, levers, Path(scratch)), timing)
        finally:
            torch.backends.cudnn.benchmark = device.type == "cuda"
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()


def time_eval(trainer: Trainer) -> float:
    """Clips per second of the evaluation pass (Trainer._logits over the ASC evaluation clips)."""
    trainer._logits(trainer.asc_eval_x, trainer.model.asc_head)
    start = time.perf_counter()
    trainer._logits(trainer.asc_eval_x, trainer.model.asc_head)
    return len(trainer.asc_eval_x) / (time.perf_counter() - start)


def _memmap_copy(x: torch.Tensor, path: Path) -> torch.Tensor:
    """A float16 .npy file mapped into memory, as features.npy is (page-cached after writing)."""
    array = npy.open_memmap(path, mode="w+", dtype=np.float16, shape=tuple(x.shape))
    array[:] = x.numpy()
    array.flush()
    return torch.from_numpy(array)

