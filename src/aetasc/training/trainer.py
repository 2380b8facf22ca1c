"""One training run of the multi-task network: every figure is a grid of these.

    L = alpha * L_AET + (1 - alpha) * L_ASC        (Eq. 1 of the paper)

alpha = 0 is the ASC baseline and alpha = 1 the AET baseline, through the same code: a
task whose weight is zero contributes no clips to the mini-batch (so the baselines see
only their own data, batch statistics included). An epoch is a pass over the ASC training
set (batch.asc clips per step); AET clips are drawn so that every clip is seen before any
repeats. The model of the last epoch is the result: no early stopping, so the evaluation
split never picks a model.

A run survives being killed: a checkpoint at the end of an epoch (every CHECKPOINT_SECONDS
of training) holds everything the next epoch depends on, and all randomness is drawn from
streams seeded by (seed, epoch), so a
resumed run ends with the same numbers as an uninterrupted one (on the CPU).
"""
from __future__ import annotations

import copy
import csv
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from aetasc.errors import AetascError
from aetasc.progress import bar as progress_bar
from aetasc.training.augment import SpecAugment, mixup
from aetasc.training.batches import Batch, batch_source, fits_on_device
from aetasc.training.checkpoints import CHECKPOINT, checkpoint_sha256, load_checkpoint, save_checkpoint
from aetasc.training.identity import code_digest, cpu_capability, library_versions
from aetasc.training.metrics import class_accuracies, lwlrap, macro_accuracy
from aetasc.training.model import MultiTaskNet
from aetasc.training.spec import RunData, RunSpec, derive_seed
from aetasc.training.store import PROCESS, claim, read_result, readable_checkpoint, write_result

CURVES = "curves.csv"
MONITOR_CLIPS = 256       # evaluation clips (per task) scored per epoch for the curves
# torch.compile (GPU only) costs compile time once per run and saves time every step: it
# is used for runs of at least this many steps (the paper world's have 5,700). Set from
# the compile time and per-step saving measured in BENCHMARKS.md.
COMPILE_MIN_STEPS = 2000
# A checkpoint is written when an epoch ends at least this long after the last one (and at
# the end, when it is kept): a killed run loses at most this much training, and short runs
# write none on the way (a write every epoch: an estimated ~11 % of the synthetic record's
# training time, docs/design.md).
CHECKPOINT_SECONDS = 60.0


class NonFiniteLossError(AetascError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class CyclicSampler:
    """Indices in random order, every index once before any repeats; reshuffled per cycle.

    Its whole state is (cycle, position), which the checkpoint stores.
    """

    def __init__(self, n: int, seed: int, cycle: int = 0, position: int = 0):
        self.n, self.seed, self.cycle, self.position = n, seed, cycle, position
        self._perm = self._permutation()

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(derive_seed(self.seed, "aet", self.cycle))
        return torch.randperm(self.n, generator=g)

    def take(self, k: int) -> torch.Tensor:
        out = []
        while k > 0:
            chunk = self._perm[self.position:self.position + k]
            out.append(chunk)
            k -= len(chunk)
            self.position += len(chunk)
            if self.position == self.n:
                self.cycle, self.position = self.cycle + 1, 0
                self._perm = self._permutation()
        return torch.cat(out)


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _on_device_if_it_fits(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Evaluation features: on the GPU when they fit in half its free memory, else on the host
    (each evaluation batch is then copied over as it is scored)."""
    return t.to(device) if fits_on_device([t], device) else t


def cooldown_epochs(spec: RunSpec, budget: int) -> int:
    """Epochs of the wsd schedule's cooldown in a run of `budget` epochs: its cooldown_fraction,
    rounded to whole epochs (at least one), so that a cooldown starts where an epoch does."""
    return min(budget, max(1, round(spec.optimizer.cooldown_fraction * budget)))


def lr_factor(spec: RunSpec, steps_per_epoch: int, step: int, budget: int) -> float:
    """The learning rate at `step` of a run of `budget` epochs, as a share of the peak.

    A linear warm-up, then: inverse_sqrt decays as 1 / sqrt(step), whatever the budget (the
    first e epochs of any run are a run of e epochs); cosine falls to zero at the budget; wsd
    holds the peak, then cools down to zero over the budget's last cooldown_epochs as
    1 - sqrt(progress) (Haegele et al. 2024). Until a wsd cooldown starts, the rate does not
    depend on the budget either, so a run of e epochs is a branch of a longer run taken at
    the start of its cooldown."""
    o = spec.optimizer
    warmup = max(1, round(o.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return (step + 1) / warmup
    if o.schedule == "inverse_sqrt":
        return math.sqrt(warmup / (step + 1))
    total = budget * steps_per_epoch
    if o.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    start = (budget - cooldown_epochs(spec, budget)) * steps_per_epoch
    return 1.0 if step < start else 1.0 - math.sqrt((step - start) / (total - start))


def branch_starts(spec: RunSpec) -> dict[int, list[int]]:
    """wsd: the epoch of the stable phase at which each earlier budget (evaluate_at) branches
    off into its own cooldown -> those budgets."""
    if not spec.evaluate_at or spec.optimizer.schedule != "wsd":
        return {}
    own_cooldown = spec.epochs - cooldown_epochs(spec, spec.epochs)
    out = {}
    for e in sorted(spec.evaluate_at):
        start = e - cooldown_epochs(spec, e)
        if not 0 < e < spec.epochs or start > own_cooldown:
            raise ValueError(f"evaluate_at {e}: a wsd run of {spec.epochs} epochs can give budgets below "
                             f"it whose cooldown starts by epoch {own_cooldown}, where its own does")
        out.setdefault(start, []).append(e)
    return out


class Trainer:
    def __init__(self, spec: RunSpec, data: RunData, device: torch.device,
                 init_encoder_path: str | Path | None = None):
        self.spec, self.data, self.device = spec, data, device
        self.use_asc, self.use_aet = spec.alpha < 1.0, spec.alpha > 0.0
        if self.use_aet and data.aet_train is None:
            raise ValueError(f"alpha = {spec.alpha} needs AET training data")
        if self.use_asc and data.asc_train is None:
            raise ValueError(f"alpha = {spec.alpha} needs ASC training data")
        self.n_asc = spec.batch.asc if self.use_asc else 0
        self.n_aet = spec.batch.aet if self.use_aet else 0
        # An epoch is a pass over the ASC training set, also for the AET baseline; a pure
        # event tagger (no ASC data at all) passes over its own training set.
        epoch_set, per_step = ((data.asc_train, spec.batch.asc) if data.asc_train is not None
                               else (data.aet_train, spec.batch.aet))
        self.steps_per_epoch = len(epoch_set) // per_step
        if self.steps_per_epoch == 0:
            raise ValueError(f"the training set ({len(epoch_set)} clips) is smaller than one "
                             f"mini-batch ({per_step})")
        torch.manual_seed(derive_seed(spec.seed, "init"))
        self.model = MultiTaskNet(len(data.scenes), len(data.events), spec.width, spec.augment.dropout)
        if spec.init_encoder:
            self._load_encoder(init_encoder_path or spec.init_encoder)
        else:
            self.model.encoder.set_input_stats(*_input_stats(
                data, tuple(t for t, used in (("asc", self.use_asc), ("aet", self.use_aet)) if used)))
        # channels_last speeds the convolutions up on GPUs and CPUs alike (1.2x measured on
        # a 2-core CPU at the synthetic shapes); bf16 autocast on GPUs (BENCHMARKS.md).
        self.channels_last = True
        self.autocast = device.type == "cuda"
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True     # input shapes never change within a run
        self.model.to(device, memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=spec.optimizer.lr,
                                           weight_decay=spec.optimizer.weight_decay,
                                           fused=device.type == "cuda")
        # The model evaluated (and handed on: a pre-trained encoder, the ranking's tagger) is an
        # exponential moving average of the weights, batch-norm statistics included: it anneals
        # the noise of a rate that never reaches zero, without a schedule tied to the budget.
        # average_epochs = 0: a decay of 0, the average is the weights themselves.
        if spec.optimizer.schedule == "cosine" and spec.evaluate_at:
            raise ValueError("a cosine schedule decays over the whole budget: a run of fewer epochs "
                             f"is a run of its own (evaluate_at {spec.evaluate_at} needs inverse_sqrt or wsd)")
        decay = 1.0 - 1.0 / max(1.0, spec.optimizer.average_epochs * self.steps_per_epoch)
        self.average = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        total = spec.epochs * self.steps_per_epoch
        self.budget = spec.epochs          # the run being trained: this one, or a wsd branch of it
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(spec, self.steps_per_epoch, step, self.budget))
        # The training step calls `forward`: the model, or a compiled version of it when the
        # run is long enough to earn back the compile time (see COMPILE_MIN_STEPS).
        self.forward = self.model
        if device.type == "cuda" and total >= COMPILE_MIN_STEPS:
            self.forward = torch.compile(self.model, dynamic=False)
        n_mels, frames = epoch_set.x.shape[1:]
        self.specaugment = SpecAugment(spec.augment, n_mels, frames).to(device) \
            if spec.augment.specaugment else None
        tasks = {}
        if self.use_asc:
            tasks["asc"] = (data.asc_train.x, data.asc_train.y)
        if self.use_aet:
            tasks["aet"] = (data.aet_train.x, data.aet_train.y)
        self.batches = batch_source(tasks, device)
        self.sampler = CyclicSampler(len(data.aet_train), spec.seed) if self.use_aet else None
        self.asc_eval_x = _on_device_if_it_fits(data.asc_eval.x, device) if data.asc_eval is not None else None
        self.aet_val_x = _on_device_if_it_fits(data.aet_val.x, device) if data.aet_val is not None else None
        self.history: list[dict] = []
        self.at_epochs: dict[str, dict] = {}   # epochs -> the result a run of that budget ends with
        self.epoch = 0

    def _load_encoder(self, path: str | Path) -> None:
        state = load_checkpoint(path)["model"]
        encoder = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
        try:
            self.model.encoder.load_state_dict(encoder)
        except RuntimeError as err:
            raise ValueError(f"{path}: its encoder does not match this run's "
                             f"(width {self.spec.width}): {err}") from None

    @property
    def evaluated(self) -> MultiTaskNet:
        """The averaged weights: the model every evaluation scores."""
        return self.average.module

    # -- checkpoints
    def state(self) -> dict:
        """`model` is the evaluated (averaged) model; `training_model` the weights the
        optimizer steps, which a resumed run continues from."""
        return {"fingerprint": self.spec.fingerprint(), "epoch": self.epoch,
                "events": list(self.data.events), "scenes": list(self.data.scenes),
                "model": self.evaluated.state_dict(), "averaged_steps": int(self.average.n_averaged),
                "training_model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "sampler": [self.sampler.cycle, self.sampler.position] if self.sampler else [0, 0],
                "history": self.history, "at_epochs": self.at_epochs}

    def restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["training_model"])
        self.evaluated.load_state_dict(ckpt["model"])
        self.average.n_averaged.fill_(ckpt["averaged_steps"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.sampler is not None:
            self.sampler = CyclicSampler(self.sampler.n, self.spec.seed, *ckpt["sampler"])
        self.history, self.epoch = list(ckpt["history"]), int(ckpt["epoch"])
        self.at_epochs = dict(ckpt["at_epochs"])

    def branch(self, budget: int, bar=None) -> dict:
        """wsd: train from here (the stable phase) to the end of a run of `budget` epochs,
        through its cooldown, and return that run's result; then go back to where it started.
        What the branch trains is exactly what a run of `budget` epochs trains from here."""
        start = copy.deepcopy(self.state())
        self.budget = budget
        for group in self.optimizer.param_groups:   # the rate of the branch's next step
            group["lr"] = self.spec.optimizer.lr * lr_factor(self.spec, self.steps_per_epoch,
                                                              self.scheduler.last_epoch, budget)
        while self.epoch < budget:
            stats = self.train_epoch(bar)
            self.epoch += 1
        result = _budget_result(self.evaluate(), stats)
        self.restore(start)
        self.budget = self.spec.epochs
        return result

    # -- training
    def _epoch_plan(self, order: torch.Tensor | None) -> list[dict[str, torch.Tensor]]:
        """The rows of every step of the epoch, drawn before it starts (so host data can be
        gathered ahead): ASC rows in the epoch's order, AET rows from the cyclic sampler."""
        plan = []
        for step in range(self.steps_per_epoch):
            rows = {}
            if self.n_asc:
                rows["asc"] = order[step * self.n_asc:(step + 1) * self.n_asc]
            if self.n_aet:
                rows["aet"] = self.sampler.take(self.n_aet)
            plan.append(rows)
        return plan

    def _augment(self, batch: Batch):
        """A gathered batch -> the network's input (ASC rows first) and each task's targets."""
        xs, parts = [], {}
        aug = self.spec.augment
        if self.n_asc:
            x, y = batch["asc"]
            x, y = x.float(), F.one_hot(y, len(self.data.scenes)).float()
            if aug.mixup:
                x, y = mixup(x, y, aug.mixup_alpha)
            xs.append(x)
            parts["asc"] = y
        if self.n_aet:
            x, y = batch["aet"]
            x, y = x.float(), y.float()
            if aug.mixup:
                x, y = mixup(x, y, aug.mixup_alpha)
            xs.append(x)
            parts["aet"] = y
        x = torch.cat(xs).unsqueeze(1)
        if self.specaugment is not None:
            x = self.specaugment(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, parts

    def train_epoch(self, bar=None) -> dict:
        spec = self.spec
        torch.manual_seed(derive_seed(spec.seed, "epoch", self.epoch))
        g = torch.Generator().manual_seed(derive_seed(spec.seed, "asc", self.epoch))
        order = torch.randperm(len(self.data.asc_train), generator=g) if self.use_asc else None
        self.model.train()
        sums = torch.zeros(2, device=self.device)
        start = time.perf_counter()
        for batch in self.batches.epoch(self._epoch_plan(order)):
            x, targets = self._augment(batch)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                asc_logits, aet_logits = self.forward(x, self.n_asc)
            loss_asc = F.cross_entropy(asc_logits.float(), targets["asc"]) if self.n_asc else sums.new_zeros(())
            loss_aet = F.binary_cross_entropy_with_logits(aet_logits.float(), targets["aet"]) \
                if self.n_aet else sums.new_zeros(())
            loss = spec.alpha * loss_aet + (1 - spec.alpha) * loss_asc
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.average.update_parameters(self.model)
            self.scheduler.step()
            sums += torch.stack([loss_asc.detach(), loss_aet.detach()])
            if bar is not None:
                bar.update(1)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        # One host sync per epoch: a non-finite loss anywhere in the epoch shows in the sum.
        loss_asc, loss_aet = (sums / self.steps_per_epoch).tolist()
        if not (math.isfinite(loss_asc) and math.isfinite(loss_aet)):
            raise NonFiniteLossError(f"non-finite loss in epoch {self.epoch + 1} "
                                     f"(L_ASC = {loss_asc}, L_AET = {loss_aet})")
        clips = self.steps_per_epoch * (self.n_asc + self.n_aet)
        return {"loss_asc": loss_asc if self.n_asc else None,
                "loss_aet": loss_aet if self.n_aet else None,
                "lr": self.scheduler.get_last_lr()[0], "seconds": seconds,
                "clips_per_second": clips / seconds}

    # -- evaluation
    @torch.no_grad()
    def _logits(self, x_all: torch.Tensor, head: torch.nn.Module, batch: int = 256) -> torch.Tensor:
        self.evaluated.eval()
        out = []
        for i in range(0, len(x_all), batch):
            x = x_all[i:i + batch].to(self.device).float().unsqueeze(1)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                out.append(head(self.evaluated.encoder(x)).float().cpu())
        return torch.cat(out)

    def evaluate(self, monitor: bool = False) -> dict:
        """Metrics on the evaluation data. The per-epoch curves (monitor) score an evenly
        strided sample of at most MONITOR_CLIPS clips per task: the result scores them all."""
        d, out = self.data, {}

        def rows(n: int) -> slice:
            return slice(None, None, -(-n // MONITOR_CLIPS) if monitor else 1)

        if d.asc_eval is not None:
            pick = rows(len(d.asc_eval))
            pred = self._logits(self.asc_eval_x[pick], self.evaluated.asc_head).argmax(1).numpy()
            truth = d.asc_eval.y[pick].cpu().numpy()
            per_class = class_accuracies(truth, pred, len(d.scenes))
            out["asc_accuracy"] = macro_accuracy(truth, pred, len(d.scenes))
            out["asc_class_accuracy"] = {s: (None if np.isnan(a) else float(a))
                                         for s, a in zip(d.scenes, per_class)}
        if d.aet_val is not None:
            pick = rows(len(d.aet_val))
            scores = self._logits(self.aet_val_x[pick], self.evaluated.aet_head).numpy()
            out["lwlrap"] = lwlrap(d.aet_val.y[pick].cpu().numpy() > 0.5, scores)
        return out


def _input_stats(data: RunData, tasks: tuple[str, ...]) -> tuple[float, float]:
    """Mean and std of the features of the tasks the run trains on (a sample of rows keeps
    this cheap): an ASC-only run never depends on the AET set it is paired with."""
    rows = [getattr(data, f"{task}_train").x[:2048] for task in tasks]
    x = torch.cat([r.float().flatten() for r in rows])
    return float(x.mean()), float(x.std())


def _write_curves(path: Path, history: list[dict]) -> None:
    fields = ["epoch", "loss_asc", "loss_aet", "asc_accuracy", "lwlrap", "lr"]
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(fields)
        for h in history:
            w.writerow(["" if h.get(k) is None else round(h[k], 6) for k in fields])
    os.replace(tmp, path)


def train_run(spec: RunSpec, data: RunData, run_dir: str | Path, device=None,
              progress: bool = True, keep_checkpoint: bool = False,
              init_encoder_path: str | Path | None = None, wait: bool = True,
              label: str | None = None) -> dict:
    """Train (or resume, or return the finished result of) one run; return its metrics.
    `label` names its progress bar (default: the run folder's name).

    run_dir receives checkpoint.pt (see CHECKPOINT_SECONDS), curves.csv (per-epoch losses and
    evaluation metrics, for monitoring only) and, when the run is complete, result.json.
    A finished run's checkpoint is deleted unless keep_checkpoint (e.g. a pre-trained
    encoder that a fine-tuning run starts from): results are what the figures need.
    init_encoder_path locates spec.init_encoder when the spec holds an identity, not a path.
    The run is claimed in the store while it trains (aetasc.training.store): if another process holds
    the claim, this one waits for its result (or, with wait=False, raises store.Busy).
    """
    run_dir = Path(run_dir)
    finished = read_result(run_dir, spec)
    if finished is not None:
        return finished
    with claim(run_dir, wait, is_done=lambda: read_result(run_dir, spec) is not None) as mine:
        if mine:      # another process may have finished it just before this one claimed it
            finished = read_result(run_dir, spec)
            return finished if finished is not None else _train(
                spec, data, run_dir, resolve_device(device), progress, keep_checkpoint, init_encoder_path, label)
    return read_result(run_dir, spec)       # finished by the process this one waited for


def _train(spec: RunSpec, data: RunData, run_dir: Path, device: torch.device, progress: bool,
           keep_checkpoint: bool, init_encoder_path, label: str | None) -> dict:
    # the thread count the fingerprint names (the process's count is restored afterwards)
    threads = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        return _train_at_pinned_threads(spec, data, run_dir, device, progress, keep_checkpoint,
                                        init_encoder_path, label)
    finally:
        torch.set_num_threads(threads)


def _train_at_pinned_threads(spec: RunSpec, data: RunData, run_dir: Path, device: torch.device, progress: bool,
                             keep_checkpoint: bool, init_encoder_path, label: str | None) -> dict:
    started = time.perf_counter()
    trainer = Trainer(spec, data, device, init_encoder_path)
    ckpt_path = run_dir / CHECKPOINT
    ckpt = readable_checkpoint(run_dir, spec)
    if ckpt is not None:
        trainer.restore(ckpt)
    branches = branch_starts(spec)
    steps = trainer.steps_per_epoch
    total = steps * (spec.epochs + sum(e - s for s, es in branches.items() for e in es))
    done = trainer.epoch + sum(e - s for s, es in branches.items() for e in es if str(e) in trainer.at_epochs)
    bar = progress_bar(total=total, initial=done * steps, unit="step",
                       desc=label or run_dir.name, leave=False, disable=not progress)
    saved = time.perf_counter()

    def checkpoint(due: bool) -> None:
        nonlocal saved
        if due or time.perf_counter() - saved >= CHECKPOINT_SECONDS:
            save_checkpoint(trainer.state(), ckpt_path)
            saved = time.perf_counter()
    with bar:
        while trainer.epoch < spec.epochs:
            pending = [e for e in branches.get(trainer.epoch, []) if str(e) not in trainer.at_epochs]
            for e in pending:        # wsd: the shorter budgets' cooldowns start here
                trainer.at_epochs[str(e)] = trainer.branch(e, bar)
            if pending:
                checkpoint(due=False)
            stats = trainer.train_epoch(bar)
            trainer.epoch += 1
            entry = {"epoch": trainer.epoch, **stats, **_curve_metrics(trainer.evaluate(monitor=True))}
            if trainer.epoch in spec.evaluate_at and not branches:
                trainer.at_epochs[str(trainer.epoch)] = _budget_result(trainer.evaluate(), stats)
            trainer.history.append(entry)
            checkpoint(due=trainer.epoch == spec.epochs and keep_checkpoint)
            _write_curves(run_dir / CURVES, trainer.history)
            bar.set_postfix({k: round(v, 3) for k, v in stats.items()
                             if k.startswith("loss") and v is not None}, refresh=False)
    result = {"fingerprint": spec.fingerprint(), "alpha": spec.alpha, "seed": spec.seed,
              "epochs": spec.epochs, **trainer.evaluate(),
              # what a run of e epochs ends with, for each e in evaluate_at
              "at_epochs": trainer.at_epochs,
              # converged losses L*: mean training loss of the last epoch (augmented batches)
              "loss_asc": trainer.history[-1]["loss_asc"], "loss_aet": trainer.history[-1]["loss_aet"],
              "train_seconds": sum(h["seconds"] for h in trainer.history),
              "clips_per_second": float(np.mean([h["clips_per_second"] for h in trainer.history])),
              # provenance: what the fingerprint was made of, and where and how long it ran
              "data_id": spec.data_id, "data": data.record, "code": code_digest(), "versions": library_versions(),
              "device": str(device), "threads": spec.threads, "cpu_capability": cpu_capability(),
              "wall_seconds_this_session": time.perf_counter() - started,
              "trained_by": PROCESS,
              "checkpoint_sha256": checkpoint_sha256(ckpt_path) if keep_checkpoint else None}
    result = write_result(run_dir, result)
    if not keep_checkpoint:
        ckpt_path.unlink(missing_ok=True)     # none when the run was short
    return result


def _budget_result(ev: dict, stats: dict) -> dict:
    """A full evaluation and the epoch's training losses: a result as a run ending here gives it."""
    return {**{k: v for k, v in ev.items() if k in ("asc_accuracy", "lwlrap")},
            "loss_asc": stats["loss_asc"], "loss_aet": stats["loss_aet"]}


def _curve_metrics(ev: dict) -> dict:
    return {k: v for k, v in ev.items() if k in ("asc_accuracy", "lwlrap")}
