"""A figure's runs spread over processes, GPUs and machines, launched by torchrun.

    torchrun --nproc_per_node=N stages/train_figure.py --figure fig3b

Each rank trains its share of the figure's (grid point, seed) runs into the run store;
all ranks then meet at a barrier and rank 0 aggregates every run's result from the store.
The ranks never exchange tensors: the process group exists only for that barrier, so the
store must be one folder that every rank sees (a shared filesystem across machines).

A crashed rank needs no recovery here: its finished runs are in the store and its current
run has a checkpoint per epoch, so launching again skips the former and resumes the latter.
A plain `python stages/train_figure.py` (as DVC runs it) is rank 0 of 1 and never touches
torch.distributed.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Iterator, Mapping

import torch

# Ranks that finish their share early wait at the barrier for the slowest rank's runs, which
# take hours in the paper's world: the default timeouts (10-30 min) would abort them.
BARRIER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Launch:
    """This process's place in the launch: torchrun's RANK, WORLD_SIZE and LOCAL_RANK."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Launch":
        """The launch torchrun describes in the environment; without it, rank 0 of 1."""
        env = os.environ if env is None else env
        if "WORLD_SIZE" not in env:
            return cls()
        launch = cls(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))
        if not 0 <= launch.rank < launch.world_size:
            raise ValueError(f"RANK={launch.rank} is outside WORLD_SIZE={launch.world_size}")
        return launch

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


@dataclass(frozen=True)
class Group:
    device: torch.device | None            # None: the trainer's default (a single process)
    barrier: Callable[[], None] | None     # None: nothing to wait for


@contextlib.contextmanager
def process_group(launch: Launch) -> Iterator[Group]:
    """The device and barrier of this rank; the process group lives as long as the block.

    On CUDA, rank r uses cuda:LOCAL_RANK (modulo the GPUs present, so more ranks than GPUs
    share them) and the group is NCCL's; the barrier runs on a gloo group, which waits on
    the CPU instead of holding a GPU kernel for hours. On the CPU, gloo alone.
    """
    if not launch.distributed:
        yield Group(None, None)
        return
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    device = torch.device("cuda", launch.local_rank % torch.cuda.device_count()) if cuda \
        else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    # env:// rendezvous: torchrun sets MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE.
    dist.init_process_group("nccl" if cuda else "gloo", timeout=BARRIER_TIMEOUT)
    try:
        waiters = dist.new_group(backend="gloo", timeout=BARRIER_TIMEOUT) if cuda else None
        yield Group(device, lambda: dist.barrier(group=waiters))
    finally:
        dist.destroy_process_group()
