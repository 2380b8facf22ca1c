"""The training step on the GPU against the CPU, and the host data path against resident data.

Tolerances (relative, ||a - b|| / ||b||), from the arithmetic each path does:
- fp32 on the GPU, TF32 off: only the order of summation differs from the CPU's float32
  (~1e-6 per reduction); forward and gradients under 1e-3;
- bf16 autocast (what training uses): 8-bit mantissa (~4e-3 per rounding); forward under
  5e-2, gradients under 1e-1 (measured on an H200: 4.7e-3 and 8.3e-2);
- gradients are compared with BatchNorm in inference mode: in training mode its backward
  subtracts nearly equal terms and multiplies any rounding difference about a hundredfold
  (measured on an H200: 9e-2 of the gradient's norm for TF32, 0.39 for bf16), which would
  measure that conditioning, not the kernels;
- whole runs: Adam turns last-bit differences into different weights within a few steps
  (its update is about +-lr for every weight whose gradient is near zero), so runs on two
  devices agree only loosely: per-epoch losses within 10 % (measured: 3 %), both learning;
  on one GPU with deterministic kernels they agree exactly, as on the CPU;
- data movement (host vs resident, prefetched or not) is exact: the same batches bit for bit.
Measured values are recorded as test properties (`--junitxml` keeps them).
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from aetasc.training.batches import HostBatches, ResidentBatches, batch_source
from aetasc.training.model import MultiTaskNet
from aetasc.training.checkpoints import CHECKPOINT, load_checkpoint
from aetasc.training.store import RESULT
from aetasc.training.trainer import Trainer, train_run
from test_train import make_data, make_spec

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm())


def tasks_of(data):
    return {"asc": (data.asc_train.x, data.asc_train.y), "aet": (data.aet_train.x, data.aet_train.y)}


def plan(steps=7, n_asc=8, n_aet=16, n=48, m=64):
    g = torch.Generator().manual_seed(5)
    return [{"asc": torch.randint(0, n, (n_asc,), generator=g), "aet": torch.randint(0, m, (n_aet,), generator=g)}
            for _ in range(steps)]


# ------------------------------------------------------------------ data paths: exact

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_host_batches_are_the_resident_batches_bit_for_bit(device, prefetch):
    device = torch.device(device)
    tasks = tasks_of(make_data())
    steps = plan()
    resident = [{k: (x.cpu(), y.cpu()) for k, (x, y) in b.items()} for b in ResidentBatches(tasks, device).epoch(steps)]
    for _ in range(2):       # twice: the staging buffers are reused from one epoch to the next
        host = list(HostBatches(tasks, device, prefetch).epoch(steps))
        assert len(host) == len(resident)
        for r, h in zip(resident, host):
            for name in r:
                assert h[name][0].device.type == device.type
                assert torch.equal(r[name][0], h[name][0].cpu()) and torch.equal(r[name][1], h[name][1].cpu())


@pytest.mark.parametrize("device", DEVICES)
def test_a_step_that_fails_stops_the_prefetching_thread(device):
    tasks = tasks_of(make_data())
    batches = HostBatches(tasks, torch.device(device), prefetch=2)
    it = batches.epoch(plan(steps=20))
    next(it)
    it.close()               # the consumer leaves early (an exception in the step)
    bad = [{"asc": torch.tensor([10_000]), "aet": torch.tensor([0])}]
    with pytest.raises(IndexError):
        list(batches.epoch(bad))


def test_prefetch_must_not_be_negative():
    with pytest.raises(ValueError, match="prefetch"):
        HostBatches({}, torch.device("cpu"), prefetch=-1)


@pytest.fixture
def deterministic(monkeypatch):
    """GPU kernels that give the same bits on every run (cuDNN's deterministic algorithms;
    torch warns about, and does not stop at, the few ops without a deterministic variant:
    here only adaptive average pooling's backward, whose 1x1 output adds once per input)."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize("device", DEVICES)
def test_host_data_trains_to_the_resident_numbers(device, deterministic, record_property):
    """Whole epochs through Trainer.train_epoch give the same numbers from either path."""
    device = torch.device(device)
    spec, data = make_spec(alpha=0.5, epochs=3, dropout=0.0), make_data()
    losses = {}
    for where in ("resident", "host"):
        trainer = Trainer(spec, data, device)
        trainer.batches = batch_source(tasks_of(data), device, resident=where == "resident")
        assert isinstance(trainer.batches, ResidentBatches if where == "resident" else HostBatches)
        losses[where] = torch.tensor([[e["loss_asc"], e["loss_aet"]] for e in
                                      (trainer.train_epoch() for _ in range(3))])
    record_property("host_vs_resident_loss_rel", rel(losses["host"], losses["resident"]))
    assert torch.equal(losses["host"], losses["resident"])


def test_big_data_stays_on_the_host(monkeypatch):
    monkeypatch.setattr("aetasc.training.batches.fits_on_device", lambda tensors, device: False)
    assert isinstance(batch_source(tasks_of(make_data()), torch.device("cpu")), HostBatches)


# ------------------------------------------------------------------------ GPU vs CPU

def _step(net, x, n_asc, y_asc, y_aet, autocast: bool, fmt):
    """Forward, losses and backward; returns (scene logits, event logits, gradient)."""
    net.to(memory_format=fmt)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
        asc, aet = net(x.contiguous(memory_format=fmt), n_asc)
    loss = F.cross_entropy(asc.float(), y_asc) + F.binary_cross_entropy_with_logits(aet.float(), y_aet)
    loss.backward()
    return asc.float(), aet.float(), torch.cat([p.grad.flatten() for p in net.parameters()])


@pytest.mark.gpu
@pytest.mark.parametrize("autocast, channels_last, fwd_tol, grad_tol",
                         [(False, False, 1e-3, 1e-3), (False, True, 1e-3, 1e-3), (True, True, 5e-2, 1e-1)])
def test_gpu_step_matches_the_cpu(autocast, channels_last, fwd_tol, grad_tol, monkeypatch, record_property):
    # fp32 means fp32 here: with cuDNN's default TF32 convolutions the gradients differ from
    # the CPU's by 2.3e-2 (contiguous) and 2.7e-2 (channels_last), measured on an H200
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    torch.manual_seed(0)
    net = MultiTaskNet(n_scenes=10, n_events=12, width=16)
    x = torch.randn(24, 1, 64, 63)
    y_asc, y_aet = torch.randint(0, 10, (8,)), (torch.rand(16, 12) < 0.2).float()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    measured = {}
    for mode in ("train", "eval"):      # forward as training runs it; gradients in eval mode
        ref = _step(copy.deepcopy(net).train(mode == "train"), x, 8, y_asc, y_aet, False, torch.contiguous_format)
        gpu = _step(copy.deepcopy(net).cuda().train(mode == "train"), x.cuda(), 8, y_asc.cuda(), y_aet.cuda(),
                    autocast, fmt)
        measured[f"{mode}_forward_rel"] = max(rel(gpu[0], ref[0]), rel(gpu[1], ref[1]))
        measured[f"{mode}_gradient_rel"] = rel(gpu[2], ref[2])
    for name, value in measured.items():
        record_property(name, value)
    assert measured["train_forward_rel"] < fwd_tol and measured["eval_forward_rel"] < fwd_tol
    assert measured["eval_gradient_rel"] < grad_tol


def _curve_and_scores(spec, data, device: str, autocast: bool):
    trainer = Trainer(spec, data, torch.device(device))
    trainer.autocast = autocast
    curve = torch.tensor([[e["loss_asc"], e["loss_aet"]] for e in (trainer.train_epoch() for _ in range(spec.epochs))])
    return trainer, curve, trainer.evaluate()


@pytest.mark.gpu
@pytest.mark.parametrize("autocast", [False, True])
def test_gpu_training_follows_the_cpu(autocast, record_property):
    """Augmentation off, so both devices see the same batches (their random streams differ)."""
    spec = make_spec(alpha=0.5, epochs=3, specaugment=False, mixup=False, dropout=0.0)
    data = make_data()
    _, cpu_curve, cpu = _curve_and_scores(spec, data, "cpu", False)
    _, gpu_curve, gpu = _curve_and_scores(spec, data, "cuda", autocast)
    diff = rel(gpu_curve, cpu_curve)
    record_property("loss_curve_rel", diff)
    record_property("asc_accuracy_cpu", cpu["asc_accuracy"])
    record_property("asc_accuracy_gpu", gpu["asc_accuracy"])
    assert diff < 0.1
    for scores in (cpu, gpu):              # both learn the toy problem (chance: 1/3 and ~0.5)
        assert scores["asc_accuracy"] > 0.45 and scores["lwlrap"] > 0.6


@pytest.mark.gpu
def test_a_long_gpu_run_compiles_its_model_and_learns(monkeypatch, record_property):
    """Runs of COMPILE_MIN_STEPS steps or more train through torch.compile."""
    spec = make_spec(alpha=0.5, epochs=3, specaugment=False, mixup=False, dropout=0.0)
    data = make_data()
    _, eager_curve, _ = _curve_and_scores(spec, data, "cuda", True)
    monkeypatch.setattr("aetasc.training.trainer.COMPILE_MIN_STEPS", 1)
    trainer, curve, scores = _curve_and_scores(spec, data, "cuda", True)
    assert trainer.forward is not trainer.model
    diff = rel(curve, eager_curve)
    record_property("compiled_vs_eager_loss_rel", diff)
    assert diff < 0.1 and scores["asc_accuracy"] > 0.45 and scores["lwlrap"] > 0.6


@pytest.mark.gpu
def test_gpu_run_resumes_from_its_checkpoint(tmp_path, monkeypatch, deterministic, record_property):
    """Interrupted after its first epoch, a GPU run resumes from the checkpoint (weights,
    optimizer, schedule, sampler) and ends exactly where an uninterrupted GPU run ends."""
    spec, data = make_spec(alpha=0.5, epochs=3), make_data()
    whole = train_run(spec, data, tmp_path / "whole", device="cuda", progress=False)
    original = Trainer.train_epoch

    def interrupted(self, bar=None):
        if self.epoch == 1:
            raise Interrupted
        return original(self, bar)
    monkeypatch.setattr(Trainer, "train_epoch", interrupted)
    with pytest.raises(Interrupted):
        train_run(spec, data, tmp_path / "cut", device="cuda", progress=False)
    ckpt = load_checkpoint(tmp_path / "cut" / CHECKPOINT)
    assert ckpt["epoch"] == 1 and not (tmp_path / "cut" / RESULT).exists()
    monkeypatch.setattr(Trainer, "train_epoch", original)
    resumed = train_run(spec, data, tmp_path / "cut", device="cuda", progress=False)
    assert resumed["device"].startswith("cuda")
    record_property("resumed_vs_whole_loss_rel",
                    max(abs(resumed[k] - whole[k]) / abs(whole[k]) for k in ("loss_asc", "loss_aet")))
    for key in ("loss_asc", "loss_aet", "asc_accuracy", "lwlrap"):
        assert resumed[key] == whole[key], key


class Interrupted(Exception):
    """Stands for a killed process: raised after the first epoch's checkpoint."""
