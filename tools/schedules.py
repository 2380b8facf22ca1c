"""The learning-rate schedules compared on the synthetic world: is the schedule the record
trains with as good as a cosine decay to zero at the same budget, for every kind of run?

    python -m tools.schedules --epochs 32        # after `dvc repro extract_subset_features`

Trains the learning-curve study's kinds of run (stage `budget`: the ASC baseline, the AET
baseline, joint training at Eq. 3's alpha and at 0.9, AET pre-training + ASC fine-tuning;
Fig. 2's event set) with every seed of the world, under each arm:

- cosine to zero over the budget, and over twice the budget (a run of its own each);
- warmup-stable-decay (wsd) at the budget, its half budget a cooldown branch of the same run;
- the params' schedule as it stands (left out when it is one of the above).

Each arm's joint run at Eq. 3's alpha trains at the alpha of that arm's own baselines (what a
record trained with that schedule would use). Runs go to their own store (--runs), seeds
outermost after the baselines, so an interrupted comparison resumes where it stopped.
Writes --out (JSON: per arm, kind and budget the per-seed values; the paired difference of
each arm from cosine at the same budget) and prints the table docs/budget.md quotes.
"""
from __future__ import annotations

import argparse
import copy
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from aetasc.config import parse_params, read_yaml
from aetasc.experiments.data import DataCache, Paths
from aetasc.experiments.grid import plan_runs
from aetasc.experiments.runner import execute
from aetasc.io import round_floats, write_json
from aetasc.progress import bar as progress_bar
from aetasc.stats import eq3_alpha, mean_test
from aetasc.training.store import read_result

KINDS = ("asc", "aet", "joint eq3", "joint alpha=0.9", "pretrain+finetune")


def arm_params(raw: dict, schedule: str, epochs: int, budgets: list[int]):
    """The params of one arm: the schedule, its budget, the study's budgets, every seed."""
    raw = copy.deepcopy(raw)
    world = raw["worlds"][raw["world"]]
    raw["optimizer"]["schedule"] = schedule
    if schedule != "inverse_sqrt":
        raw["optimizer"]["average_epochs"] = 0.0       # a rate annealed to zero needs no average
    world["epochs"] = epochs
    world["convergence"]["study_epochs"] = budgets
    world["convergence"]["study_seeds"] = len(world["seeds"])
    return parse_params(raw)


def arms(raw: dict, epochs: int) -> dict:
    out = {f"cosine {epochs}": ("cosine", epochs, [epochs // 2, epochs]),
           f"cosine {2 * epochs}": ("cosine", 2 * epochs, [epochs, 2 * epochs]),
           f"wsd {epochs}": ("wsd", epochs, [epochs // 2, epochs])}
    own = raw["optimizer"]["schedule"]
    if own == "inverse_sqrt":
        out[f"inverse_sqrt {epochs}"] = (own, epochs, [epochs // 2, epochs])
    return {name: arm_params(raw, *a) for name, a in out.items()}


def plan(params, data_id, eq3: float) -> list:
    """The study's runs of an arm; a cosine arm's at its budget only (a shorter budget would
    be a run of its own)."""
    runs = plan_runs("budget", params, data_id, {"eq3_alpha": eq3})
    if params.optimizer.schedule != "cosine":
        return runs
    budget = params.active.epochs
    return [replace(r, spec=replace(r.spec, evaluate_at=()), budgets=(budget,))
            for r in runs if max(r.budgets) == budget]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=32, help="the budget compared (and half of it, twice it)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--features", default="data/features")
    ap.add_argument("--subsets", default="data/subsets")
    ap.add_argument("--runs", default="data/schedule_runs", help="the comparison's own run store")
    ap.add_argument("--out", default="metrics/schedules.json")
    ap.add_argument("--skip", nargs="*", default=[], help="arms left out, by name (e.g. 'inverse_sqrt 32')")
    ap.add_argument("--seeds", type=int, default=None,
                    help="compare on the first N seeds only (default: every seed of the world); the "
                         "baselines that set Eq. 3's alpha always train with every seed")
    args = ap.parse_args()
    raw = read_yaml(Path(args.params).read_text(), args.params)
    paths = Paths(asc_features=Path(args.features) / "asc", aet_features=Path(args.features) / "aet_subsets",
                  subsets=Path(args.subsets), runs=Path(args.runs), baselines=Path("unused"))
    paths.runs.mkdir(parents=True, exist_ok=True)
    variants = {name: p for name, p in arms(raw, args.epochs).items() if name not in args.skip}
    cache = DataCache(next(iter(variants.values())), paths)
    started = time.perf_counter()

    def train(runs, desc):
        for run in progress_bar(runs, desc=desc, unit="run"):
            execute(run, cache, paths.runs, progress=False)

    # the baselines of every arm first (Eq. 3's alpha of its joint runs), then seed by seed
    plans = {}
    for name, params in variants.items():
        plans[name] = plan(params, cache.data_id, 0.5)
        train([r for r in plans[name] if r.point.baseline], f"{name}: baselines")
    alphas = {}
    for name, params in variants.items():
        results = _results([r for r in plans[name] if r.point.baseline], paths)
        budget = params.active.epochs
        alphas[name] = eq3_alpha(_mean(results["asc"][budget], "loss_asc"), _mean(results["aet"][budget], "loss_aet"))
        plans[name] = plan(params, cache.data_id, alphas[name])
    seeds = raw["worlds"][raw["world"]]["seeds"][:args.seeds]
    for name in variants:
        plans[name] = [r for r in plans[name] if r.seed in seeds]
    for seed in seeds:
        train([r for name in variants for r in plans[name] if r.seed == seed and not r.point.baseline],
              f"seed {seed}")
    table = {name: {kind: {str(b): _values(v) for b, v in sorted(by_budget.items())}
                    for kind, by_budget in _results(plans[name], paths).items()}
             for name in variants}
    summary = {"world": raw["world"], "epochs": args.epochs, "seeds": seeds, "eq3_alpha": alphas,
               "arms": table, "against_cosine": _against_cosine(table, args.epochs),
               "train_wall_seconds": time.perf_counter() - started}
    write_json(Path(args.out), round_floats(summary))
    print(format_table(summary))


def _results(runs, paths) -> dict:
    """kind -> budget -> [(seed, result at that budget)], from the store."""
    out = defaultdict(lambda: defaultdict(list))
    for run in runs:
        result = read_result(paths.runs / run.dir_name, run.spec)
        if result is None:
            raise RuntimeError(f"run {run.point.label} seed {run.seed} has no result in {paths.runs}")
        for b in run.budgets:
            out[run.point.label][b].append((run.seed, run.values_at(result, b)))
    return out


def _mean(pairs, key: str) -> float:
    return sum(r[key] for _, r in pairs) / len(pairs)


def _values(pairs) -> dict:
    """The score of each seed: ASC accuracy; lwlrap for the AET baseline (no ASC loss)."""
    key = "lwlrap" if pairs[0][1]["loss_asc"] is None else "asc_accuracy"
    return {"metric": key, "seeds": [s for s, _ in pairs], "values": [r[key] for _, r in pairs]}


def _against_cosine(table: dict, epochs: int) -> dict:
    """Each arm minus cosine at the same budget, paired by seed: mean and 95 % interval."""
    out = {}
    for budget, cosine in ((epochs, f"cosine {epochs}"), (2 * epochs, f"cosine {2 * epochs}")):
        for name, kinds in table.items():
            if name == cosine or cosine not in table:
                continue
            for kind, by_budget in kinds.items():
                mine, ref = by_budget.get(str(budget)), table[cosine][kind].get(str(budget))
                if mine is None or ref is None:
                    continue
                by_seed = dict(zip(ref["seeds"], ref["values"]))
                diffs = [v - by_seed[s] for s, v in zip(mine["seeds"], mine["values"]) if s in by_seed]
                t = mean_test(diffs)
                out.setdefault(f"{name} - {cosine}", {})[kind] = {
                    "budget": budget, "mean": t["mean"], "ci": t["ci"]}
    return out


def format_table(summary: dict) -> str:
    """Mean over seeds per arm, kind and budget; then each arm against cosine."""
    rows = ["| arm | budget | " + " | ".join(KINDS) + " |", "|---|---|" + "---|" * len(KINDS)]
    for name, kinds in summary["arms"].items():
        budgets = sorted({int(b) for by in kinds.values() for b in by})
        for b in budgets:
            cells = []
            for kind in KINDS:
                v = kinds.get(kind, {}).get(str(b))
                cells.append(f"{100 * sum(v['values']) / len(v['values']):.1f} %" if v else "")
            rows.append(f"| {name} | {b} | " + " | ".join(cells) + " |")
    rows += ["", "| difference (pp, 95 % CI) | " + " | ".join(KINDS) + " |", "|---|" + "---|" * len(KINDS)]
    for name, kinds in summary["against_cosine"].items():
        rows.append(f"| {name} | " + " | ".join(
            f"{100 * d['mean']:+.1f} [{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}]" if (d := kinds.get(k)) else ""
            for k in KINDS) + " |")
    rows.append("")
    rows.append("Eq. 3's alpha per arm: " + ", ".join(f"{n} {a:.3f}" for n, a in summary["eq3_alpha"].items()))
    return "\n".join(rows)


if __name__ == "__main__":
    main()
