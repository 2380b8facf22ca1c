import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from aetasc.training.augment import SpecAugment, mask_band, mixup
from aetasc.config import AugmentParams, BatchParams, OptimizerParams
from aetasc.training.model import MultiTaskNet, ResNet18Encoder
from aetasc.training.checkpoints import CHECKPOINT, load_checkpoint
from aetasc.training.spec import RunData, RunSpec, Task
from aetasc.training.store import RESULT
from aetasc.training.trainer import CyclicSampler, NonFiniteLossError, Trainer, train_run

TESTS = Path(__file__).resolve().parent


def make_data(n_train=48, n_eval=24, n_aet=64, mels=16, frames=20, scenes=3, events=4) -> RunData:
    """A learnable toy problem: each scene and event lights up its own band of mel bins."""
    g = torch.Generator().manual_seed(123)

    def clips(n, bands):
        x = torch.randn(n, mels, frames, generator=g)
        for i, active in enumerate(bands):
            for b in active:
                x[i, 3 * b:3 * b + 3] += 2.0
        return x.half()

    ys = torch.randint(0, scenes, (n_train + n_eval,), generator=g)
    xs = clips(n_train + n_eval, [[int(y)] for y in ys])
    ye = (torch.rand(2 * n_aet, events, generator=g) < 0.4).float()
    ye[ye.sum(1) == 0, 0] = 1.0
    xe = clips(2 * n_aet, [torch.nonzero(r).flatten().tolist() for r in ye])
    return RunData(tuple(f"s{i}" for i in range(scenes)), tuple(f"/m/e{i}" for i in range(events)),
                   Task(xs[:n_train], ys[:n_train]), Task(xs[n_train:], ys[n_train:]),
                   Task(xe[:n_aet], ye[:n_aet]), Task(xe[n_aet:], ye[n_aet:]))


def make_spec(alpha=0.5, epochs=3, **augment) -> RunSpec:
    aug = dict(specaugment=True, freq_mask_fraction=0.1, time_mask_fraction=0.1, masks=1,
               mixup=True, mixup_alpha=0.3, dropout=0.1)
    aug.update(augment)
    return RunSpec(alpha=alpha, seed=7, epochs=epochs, width=4, batch=BatchParams(asc=8, aet=16),
                   optimizer=OptimizerParams(lr=3e-3, weight_decay=1e-2, warmup_epochs=1.0, schedule="inverse_sqrt",
                                             cooldown_fraction=0.2, average_epochs=2.0),
                   augment=AugmentParams(**aug), threads=2)


def test_width_64_encoder_is_resnet18():
    ours = sum(p.numel() for p in ResNet18Encoder(64).parameters())
    # ResNet-18 has 11,689,512 parameters (He et al. 2016; torchvision's resnet18), 513,000 of
    # them in its ImageNet classifier; ours takes 1 input channel instead of 3, so its stem
    # convolution has a third of the weights
    assert ours == 11_689_512 - 513_000 - 2 * 64 * 7 * 7
    z = ResNet18Encoder(64)(torch.randn(2, 1, 128, 101))
    assert z.shape == (2, 512)


def test_heads_split_the_joint_batch():
    net = MultiTaskNet(n_scenes=3, n_events=5, width=4)
    asc, aet = net(torch.randn(7, 1, 16, 20), n_asc=3)
    assert asc.shape == (3, 3) and aet.shape == (4, 5)


@pytest.mark.parametrize("alpha, silent_head", [(0.0, "aet_head"), (1.0, "asc_head")])
def test_a_task_with_zero_weight_gets_no_clips_and_no_gradient(alpha, silent_head):
    trainer = Trainer(make_spec(alpha), make_data(), torch.device("cpu"))
    assert (trainer.n_asc, trainer.n_aet) == ((8, 0) if alpha == 0 else (0, 16))
    before = getattr(trainer.model, silent_head).weight.detach().clone()
    trainer.train_epoch()
    assert torch.equal(before, getattr(trainer.model, silent_head).weight)


def test_cyclic_sampler_sees_every_clip_before_repeating():
    s = CyclicSampler(10, seed=0)
    first, second = s.take(7), s.take(7)
    seen = torch.cat([first, second])
    assert sorted(seen[:10].tolist()) == list(range(10))
    assert len(set(seen[10:].tolist())) == 4
    resumed = CyclicSampler(10, 0, s.cycle, s.position)
    assert torch.equal(resumed.take(5), s.take(5))


def test_mixup_mixes_inputs_and_targets_alike():
    torch.manual_seed(0)
    x = torch.arange(4.0).view(4, 1).repeat(1, 3)
    y = torch.eye(4)
    xm, ym = mixup(x, y, alpha=0.4)
    # the scalar each row carries is its own mixture of row indices; the targets say the same
    assert torch.allclose(xm[:, 0], ym @ torch.arange(4.0))
    assert torch.allclose(ym.sum(1), torch.ones(4))


def test_specaugment_masks_each_example_differently():
    aug = AugmentParams(specaugment=True, freq_mask_fraction=0.3, time_mask_fraction=0.3, masks=1,
                        mixup=False, mixup_alpha=0.3, dropout=0.0)
    torch.manual_seed(0)
    x = torch.randn(8, 1, 32, 40)
    masked = SpecAugment(aug, 32, 40)(x) != x
    patterns = {tuple(m.flatten().tolist()) for m in masked}
    assert len(patterns) > 1


@pytest.mark.parametrize("dim", [2, 3])
def test_mask_band_zeroes_one_band_of_uniform_width_per_example(dim):
    torch.manual_seed(0)
    x = torch.ones(4000, 1, 24, 30)
    kept = mask_band(x, 10, dim) == 1
    other = 5 - dim
    assert (kept.all(dim=other) == kept.any(dim=other)).all()      # whole rows or columns
    band = ~kept.all(dim=other).squeeze(1)                          # (examples, size along dim)
    widths = band.sum(1)
    for row, width in zip(band[:50], widths[:50]):                  # one contiguous band
        hits = row.nonzero().flatten()
        assert width == 0 or hits[-1] - hits[0] + 1 == width
    # width = floor(10 U): 0..9, each with probability 1/10 (4000 draws: sd of a count ~19)
    counts = torch.bincount(widths, minlength=10)
    assert len(counts) == 10 and (counts - 400).abs().max() < 100


def test_training_learns_and_is_deterministic(tmp_path):
    data = make_data()
    spec = make_spec(alpha=0.5, epochs=6)
    a = train_run(spec, data, tmp_path / "a", device="cpu", progress=False)
    b = train_run(spec, data, tmp_path / "b", device="cpu", progress=False)
    assert a["asc_accuracy"] == b["asc_accuracy"] and a["lwlrap"] == b["lwlrap"]
    assert a["loss_asc"] == b["loss_asc"] and a["loss_aet"] == b["loss_aet"]
    assert a["asc_accuracy"] > 0.6          # chance: 1/3
    assert a["lwlrap"] > 0.7
    assert set(a["asc_class_accuracy"]) == set(data.scenes)
    curves = (tmp_path / "a" / "curves.csv").read_text().splitlines()
    assert curves[0].startswith("epoch,loss_asc,loss_aet") and len(curves) == 7


def test_finished_run_is_returned_not_retrained(tmp_path, monkeypatch):
    data, spec = make_data(), make_spec(epochs=1)
    first = train_run(spec, data, tmp_path, device="cpu", progress=False)
    monkeypatch.setattr("aetasc.training.trainer.Trainer", None)   # any new training would fail
    assert train_run(spec, data, tmp_path, device="cpu", progress=False) == first


def test_checkpoint_loads_with_weights_only(tmp_path):
    data = make_data()
    train_run(make_spec(epochs=1), data, tmp_path, device="cpu", progress=False, keep_checkpoint=True)
    ckpt = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert ckpt["epoch"] == 1 and "encoder.stem.0.weight" in ckpt["model"]
    assert ckpt["events"] == list(data.events)


def test_finished_run_drops_its_checkpoint_unless_asked(tmp_path):
    train_run(make_spec(epochs=1), make_data(), tmp_path, device="cpu", progress=False)
    assert (tmp_path / RESULT).is_file() and not (tmp_path / CHECKPOINT).exists()


_CHILD = """
import sys
sys.path.insert(0, {tests!r})
from test_train import make_data, make_spec
import aetasc.training.trainer as trainer
from aetasc.training.trainer import train_run
trainer.CHECKPOINT_SECONDS = 0.0        # a checkpoint after every epoch, to be killed between
train_run(make_spec(epochs=8), make_data(), {run_dir!r}, device="cpu", progress=False)
"""


def test_killed_run_resumes_to_the_same_numbers(tmp_path):
    reference = train_run(make_spec(epochs=8), make_data(), tmp_path / "whole", device="cpu", progress=False)
    run_dir = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", _CHILD.format(tests=str(TESTS), run_dir=str(run_dir))])
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            ckpt = run_dir / CHECKPOINT
            if ckpt.is_file():
                try:
                    if load_checkpoint(ckpt)["epoch"] >= 2:
                        break
                except Exception:   # being replaced right now
                    pass
            if child.poll() is not None:
                pytest.fail("the training process ended before it could be killed")
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert not (run_dir / RESULT).exists()
    killed_at = load_checkpoint(run_dir / CHECKPOINT)["epoch"]
    assert 2 <= killed_at < 8
    resumed = train_run(make_spec(epochs=8), make_data(), run_dir, device="cpu", progress=False)
    for key in ("asc_accuracy", "lwlrap", "loss_asc", "loss_aet", "asc_class_accuracy"):
        assert resumed[key] == reference[key], key
    history = json.loads((run_dir / RESULT).read_text())
    assert history["epochs"] == 8


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    data = make_data()
    train_run(make_spec(epochs=2), data, tmp_path, device="cpu", progress=False, keep_checkpoint=True)
    (tmp_path / RESULT).unlink()          # as if killed after its last checkpoint
    other = replace(make_spec(epochs=2), seed=8)
    result = train_run(other, data, tmp_path, device="cpu", progress=False)
    fresh = train_run(other, data, tmp_path / "fresh", device="cpu", progress=False)
    assert result["fingerprint"] == other.fingerprint()
    assert result["asc_accuracy"] == fresh["asc_accuracy"] and result["loss_asc"] == fresh["loss_asc"]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr("aetasc.training.trainer.CHECKPOINT_SECONDS", 0.0)
    original = Trainer._augment

    def poisoned(self, batch):
        x, targets = original(self, batch)
        return (x * float("nan") if self.epoch == 1 else x), targets
    monkeypatch.setattr(Trainer, "_augment", poisoned)
    with pytest.raises(NonFiniteLossError, match="epoch 2"):
        train_run(make_spec(epochs=3), make_data(), tmp_path, device="cpu", progress=False)
    ckpt = load_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert not (tmp_path / RESULT).exists()


def test_fine_tuning_starts_from_the_pretrained_encoder(tmp_path):
    data = make_data()
    train_run(make_spec(alpha=1.0, epochs=1), data, tmp_path / "pre", device="cpu", progress=False,
              keep_checkpoint=True)
    pre = load_checkpoint(tmp_path / "pre" / CHECKPOINT)["model"]
    spec = replace(make_spec(alpha=0.0, epochs=1), init_encoder=str(tmp_path / "pre" / CHECKPOINT))
    trainer = Trainer(spec, data, torch.device("cpu"))
    assert torch.equal(trainer.model.encoder.stem[0].weight, pre["encoder.stem.0.weight"])
    wide = replace(spec, width=8)
    with pytest.raises(ValueError, match="encoder does not match"):
        Trainer(wide, data, torch.device("cpu"))


def test_missing_aet_data_for_a_joint_run():
    data = replace(make_data(), aet_train=None, aet_val=None)
    with pytest.raises(ValueError, match="needs AET training data"):
        Trainer(make_spec(alpha=0.5), data, torch.device("cpu"))


def test_an_asc_only_run_is_normalized_by_its_own_data_alone():
    """The ASC baseline carries its figure's AET set (for the record) but never trains on it:
    that set must not change it, through the input statistics or otherwise."""
    data = make_data()
    other = replace(data, aet_train=Task(data.aet_train.x * 3 + 5, data.aet_train.y))
    a = Trainer(make_spec(alpha=0.0), data, torch.device("cpu")).model.encoder
    b = Trainer(make_spec(alpha=0.0), other, torch.device("cpu")).model.encoder
    assert float(a.input_mean) == float(b.input_mean) and float(a.input_std) == float(b.input_std)
    joint = Trainer(make_spec(alpha=0.5), other, torch.device("cpu")).model.encoder
    assert float(joint.input_mean) != float(a.input_mean)


# ------------------------------------------------------------------------ budgets

def _schedule(name: str, epochs: int = 40, **optimizer) -> RunSpec:
    spec = make_spec(epochs=epochs)
    return replace(spec, optimizer=spec.optimizer.model_copy(update={"schedule": name, **optimizer}))


def test_the_inverse_sqrt_rate_does_not_depend_on_the_budget():
    from aetasc.training.trainer import lr_factor
    spec = _schedule("inverse_sqrt")
    assert [lr_factor(spec, 6, s, 2) for s in range(12)] == [lr_factor(spec, 6, s, 40) for s in range(12)]
    # linear warm-up over one epoch (6 steps), then 1 / sqrt(step)
    assert [round(lr_factor(spec, 6, s, 40), 6) for s in (0, 5, 6, 23)] == [round(1 / 6, 6), 1.0,
                                                                            round((6 / 7) ** 0.5, 6), 0.5]


def test_the_cosine_and_wsd_rates_against_their_closed_forms():
    import math
    from aetasc.training.trainer import lr_factor
    cosine, wsd = _schedule("cosine", 10), _schedule("wsd", 10, cooldown_fraction=0.2)
    # 6 steps an epoch, 60 in all, warm-up 6: cosine from step 6 over 54 steps
    assert lr_factor(cosine, 6, 6, 10) == 1.0
    assert lr_factor(cosine, 6, 33, 10) == pytest.approx(0.5)
    assert lr_factor(cosine, 6, 59, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 53 / 54)))
    # wsd: the peak until epoch 8, then 1 - sqrt(progress) over the last 2 epochs (12 steps)
    assert [lr_factor(wsd, 6, s, 10) for s in (6, 47)] == [1.0, 1.0]
    assert [lr_factor(wsd, 6, s, 10) for s in (48, 51, 59)] == pytest.approx(
        [1.0, 1 - math.sqrt(3 / 12), 1 - math.sqrt(11 / 12)])
    # until its cooldown, a wsd run does not depend on its budget
    assert [lr_factor(wsd, 6, s, 10) for s in range(48)] == [lr_factor(wsd, 6, s, 40) for s in range(48)]


def test_cooldowns_are_whole_epochs_and_branch_from_the_stable_phase():
    from aetasc.training.trainer import branch_starts, cooldown_epochs
    spec = replace(_schedule("wsd", 32, cooldown_fraction=0.2), evaluate_at=(2, 4, 8, 16))
    assert [cooldown_epochs(spec, e) for e in (1, 2, 4, 8, 16, 32)] == [1, 1, 1, 2, 3, 6]
    assert branch_starts(spec) == {1: [2], 3: [4], 6: [8], 13: [16]}
    with pytest.raises(ValueError, match="evaluate_at 32"):      # not a shorter budget
        branch_starts(replace(spec, evaluate_at=(32,)))
    with pytest.raises(ValueError, match="cosine .* a run of its own"):
        Trainer(replace(_schedule("cosine", 4), evaluate_at=(2,)), make_data(), torch.device("cpu"))


WSD_KEYS = ("asc_accuracy", "lwlrap", "loss_asc", "loss_aet", "asc_class_accuracy")


def test_a_wsd_branch_is_exactly_a_shorter_run_and_leaves_no_trace(tmp_path):
    """A wsd run's shorter budgets are cooldown branches of its stable phase: each must be
    what a run of that budget ends with, and the run itself what it is without branches."""
    data = make_data()
    spec = replace(_schedule("wsd", 6, cooldown_fraction=0.34, average_epochs=0.0))
    long = train_run(replace(spec, evaluate_at=(3,)), data, tmp_path / "long", progress=False)
    short = train_run(replace(spec, epochs=3), data, tmp_path / "short", progress=False)
    plain = train_run(spec, data, tmp_path / "plain", progress=False)
    assert {k: long["at_epochs"]["3"][k] for k in ("asc_accuracy", "lwlrap", "loss_asc", "loss_aet")} == \
           {k: short[k] for k in ("asc_accuracy", "lwlrap", "loss_asc", "loss_aet")}
    assert {k: long[k] for k in WSD_KEYS} == {k: plain[k] for k in WSD_KEYS}
    assert long["loss_asc"] != short["loss_asc"]


def test_a_short_run_writes_no_checkpoint_on_the_way(tmp_path, monkeypatch):
    import aetasc.training.trainer as trainer_module
    saved, real = [], trainer_module.save_checkpoint
    monkeypatch.setattr(trainer_module, "save_checkpoint",
                        lambda state, path: (saved.append(state["epoch"]), real(state, path)))
    train_run(make_spec(epochs=3), make_data(), tmp_path / "short", progress=False)
    assert saved == []
    train_run(make_spec(epochs=3), make_data(), tmp_path / "kept", progress=False, keep_checkpoint=True)
    assert saved == [3]
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    train_run(make_spec(epochs=3), make_data(), tmp_path / "every", progress=False)
    assert saved == [3, 1, 2, 3]


def test_a_wsd_run_resumed_after_a_branch_ends_where_an_uninterrupted_one_ends(tmp_path, monkeypatch):
    import aetasc.training.trainer as trainer_module
    data = make_data()
    spec = replace(_schedule("wsd", 6, cooldown_fraction=0.34, average_epochs=0.0), evaluate_at=(3,))
    whole = train_run(spec, data, tmp_path / "whole", progress=False)
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    real, calls = trainer_module.Trainer.train_epoch, []

    def dies_after_its_branch(self, bar=None):
        calls.append(self.epoch)
        if self.at_epochs and self.epoch == 3:       # the branch is done and checkpointed
            raise KeyboardInterrupt
        return real(self, bar)
    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", dies_after_its_branch)
    with pytest.raises(KeyboardInterrupt):
        train_run(spec, data, tmp_path / "killed", progress=False)
    assert load_checkpoint(tmp_path / "killed" / CHECKPOINT)["at_epochs"].keys() == {"3"}
    monkeypatch.setattr(trainer_module.Trainer, "train_epoch", real)
    resumed = train_run(spec, data, tmp_path / "killed", progress=False)
    assert resumed["at_epochs"] == whole["at_epochs"]
    assert {k: resumed[k] for k in WSD_KEYS} == {k: whole[k] for k in WSD_KEYS}


def test_a_run_evaluated_on_the_way_ends_where_a_shorter_run_ends(tmp_path):
    """The half-budget results of every figure rest on this: after e epochs a run of more
    epochs is exactly a run of e epochs (same model, same evaluation, same losses)."""
    data = make_data()
    long = train_run(replace(make_spec(epochs=4), evaluate_at=(2,)), data, tmp_path / "long", progress=False)
    short = train_run(make_spec(epochs=2), data, tmp_path / "short", progress=False)
    at_two = long["at_epochs"]["2"]
    assert {k: at_two[k] for k in ("asc_accuracy", "lwlrap", "loss_asc", "loss_aet")} == \
           {k: short[k] for k in ("asc_accuracy", "lwlrap", "loss_asc", "loss_aet")}
    assert long["asc_accuracy"] != short["asc_accuracy"] or long["loss_asc"] != short["loss_asc"]
    assert short["at_epochs"] == {}


def test_the_fingerprint_names_the_thread_count_and_the_cpu_instruction_set(monkeypatch):
    spec = make_spec()
    here = spec.fingerprint()
    assert replace(spec, threads=3).fingerprint() != here
    monkeypatch.setattr("aetasc.training.spec.cpu_capability", lambda: "an instruction set of another CPU")
    assert spec.fingerprint() != here


def test_a_run_trains_at_its_pinned_thread_count_and_gives_the_process_its_own_back(tmp_path, monkeypatch):
    seen = []
    step = Trainer.train_epoch

    def watched(self, bar=None):
        seen.append(torch.get_num_threads())
        return step(self, bar)
    monkeypatch.setattr(Trainer, "train_epoch", watched)
    torch.set_num_threads(2)
    result = train_run(replace(make_spec(epochs=2), threads=1), make_data(), tmp_path / "run", progress=False)
    assert seen == [1, 1]
    assert torch.get_num_threads() == 2
    assert result["threads"] == 1 and result["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
