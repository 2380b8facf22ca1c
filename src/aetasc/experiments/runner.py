"""Training a figure's runs: each run of its grid (aetasc.experiments.grid) once, memoized in
one run store by fingerprint (settings + data + code), so a run two figures share (e.g.
correlated events at alpha = 0.95 in Figs 2, 3a and 5) is trained once, and an interrupted
figure resumes where it stopped; then rank 0 aggregates them (aetasc.experiments.aggregate).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from aetasc.config import Params
from aetasc.experiments.aggregate import mean_curves, summarize_figure
from aetasc.experiments.data import DataCache, Paths, run_data
from aetasc.experiments.grid import FIGURES, Run, budgets_of, plan_runs
from aetasc.io import read_json
from aetasc.progress import bar as progress_bar
from aetasc.training.checkpoints import CHECKPOINT
from aetasc.training.store import PROCESS, RESULT, Busy, read_result
from aetasc.training.trainer import train_run


def needed_runs(params: Params, paths: Paths) -> dict[str, str]:
    """Fingerprint -> the first run of the current figures that needs it (pre-training runs
    included): what the store must keep for these params and data."""
    cache = DataCache(params, paths)
    baselines = read_json(paths.baselines) if paths.baselines.is_file() else None
    out = {}
    for figure in FIGURES:
        for run in plan_runs(figure, params, cache.data_id, baselines):
            what = f"{figure} {run.point.label} seed {run.seed}"
            out.setdefault(run.dir_name, what)
            if run.pretrain_spec is not None:
                out.setdefault(run.pretrain_spec.fingerprint(), what + " (pre-training)")
    return out


def _how(result: dict) -> str:
    """How a run that was not in the store got its result: trained by this process, or by
    another one this process waited for."""
    return "trained" if result.get("trained_by") == PROCESS else "waited for"


def execute(run: Run, cache: DataCache, store: Path, device=None, progress=True,
            wait: bool = True, label: str | None = None) -> tuple[dict, Counter]:
    """Train one run (or fetch it from the store); a pre-training run goes first. Returns its
    result and what happened to the runs it took: a Counter of "trained" (here), "waited for"
    (trained by another process meanwhile) and "reused" (in the store already). Its data is
    loaded only when something must be trained. wait=False raises store.Busy when another
    process is training it."""
    done = read_result(store / run.dir_name, run.spec)
    if done is not None:
        return done, Counter(reused=1)
    data = run_data(run, cache)
    counts, encoder = Counter(), None
    if run.pretrain_spec is not None:
        pre_dir = store / run.pretrain_spec.fingerprint()
        if (pre_dir / RESULT).is_file() and not (pre_dir / CHECKPOINT).is_file():
            (pre_dir / RESULT).unlink()               # its encoder is needed again: retrain
        if read_result(pre_dir, run.pretrain_spec) is not None:
            counts["reused"] += 1
        else:
            counts[_how(train_run(run.pretrain_spec, data, pre_dir, device, progress, keep_checkpoint=True,
                                  wait=wait, label=label and f"{label} (pre-training)"))] += 1
        encoder = pre_dir / CHECKPOINT
    result = train_run(run.spec, data, store / run.dir_name, device, progress,
                       init_encoder_path=encoder, wait=wait, label=label)
    counts[_how(result)] += 1
    return result, counts


def run_figure(figure: str, params: Params, paths: Paths, rank: int = 0, world_size: int = 1,
               device=None, progress: bool = True, barrier=None) -> dict | None:
    """Train a figure's runs (this rank's share) and, on rank 0, aggregate all of them.

    With several ranks, each takes the next run that no other rank has claimed (aetasc.training.store);
    `barrier` waits for all ranks before rank 0 reads every run's result from the store.
    Returns the summary on rank 0, None elsewhere. (rank only picks who aggregates.)
    """
    baselines = None if figure == "baselines" else read_json(paths.baselines)
    cache = DataCache(params, paths)
    runs = plan_runs(figure, params, cache.data_id, baselines)
    # Several ranks take runs first come, first served: a run another rank is training is
    # skipped and waited for at the end (so a slow run does not hold up the rest).
    counts, deferred = Counter(), []
    for run in progress_bar(runs, desc=f"{figure} runs", unit="run", disable=not progress):
        try:
            counts += execute(run, cache, paths.runs, device, progress, wait=world_size == 1,
                              label=f"{figure} {run.point.label} seed {run.seed}")[1]
        except Busy:
            deferred.append(run)
    for run in deferred:            # trained by another rank: wait for its result
        counts += execute(run, cache, paths.runs, device, progress,
                          label=f"{figure} {run.point.label} seed {run.seed}")[1]
    print(f"{figure}: trained {counts['trained']} run(s) here, reused {counts['reused']} from the store, "
          f"waited for {counts['waited for']} trained by another process; {len(runs)} planned "
          f"(pre-training runs counted apart); store {paths.runs}")
    if barrier is not None:
        barrier()
    if rank != 0:
        return None
    budgets = budgets_of(figure, params)
    by_budget = {b: [] for b in budgets}
    for run in runs:
        result = read_result(paths.runs / run.dir_name, run.spec)
        if result is None:
            raise RuntimeError(f"{figure}: run {run.point.label} seed {run.seed} has no valid result at "
                               f"{paths.runs / run.dir_name / RESULT}")
        for b in run.budgets:
            by_budget[b].append((run, run.values_at(result, b)))
    # the curves of the runs of the largest budget (a pre-training point: its fine-tuning)
    longest = [r for r in runs if max(r.budgets) == budgets[-1]]
    curves = {label: mean_curves([paths.runs / r.dir_name for r in longest if r.point.label == label])
              for label in dict.fromkeys(r.point.label for r in longest)}
    return summarize_figure(figure, params, by_budget, baselines, curves)
