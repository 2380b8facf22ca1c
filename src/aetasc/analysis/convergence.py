"""Whether a claim's runs trained long enough to decide it, judged on what the claim compares.

A budget is enough for a quantity a claim reads when the last doubling (half the budget to
the budget, the same runs) moved it by less than the tolerance with both one-sided 95 %
bounds of its per-seed movement: a gain over the ASC baseline moves as the point minus the
baseline of the same seed, never as the arms' means apart. A claim whose quantities still
move is held back only when the movement still allowed could change its verdict: the claim
is evaluated again with each moving quantity shifted by either bound (every combination),
and is decided when all of them give its verdict. Eq. 3's α, which decides where points
trained, holds back every claim on those points while it moves.
"""
from __future__ import annotations

import copy
import itertools
import json

from aetasc.config import StatsParams
from aetasc.analysis.format import paired_values, signed
from aetasc.stats import mean_test

Read = tuple[str, str, str]    # (figure, point label, metric): a quantity a claim rests on
ASC_BASELINE: Read = ("baselines", "asc", "asc_accuracy")
EQ3_ALPHA: Read = ("baselines", "Eq. 3", "eq3_alpha")
MOST_SHIFTED = 8               # 2^8 re-evaluations at most; more moving quantities: held back


def with_eq3_alpha(metrics: dict, reads: list[Read]) -> list[Read]:
    """A claim's reads and, when one of its points trained at the α the baselines' losses gave
    (Eq. 3; `at_eq3_alpha`, written by the training stage), that α: a budget that still moved
    it would train them elsewhere."""
    if EQ3_ALPHA in reads:
        return reads
    at_eq3 = any(((metrics.get(fig) or {}).get("points", {}).get(label) or {}).get("at_eq3_alpha")
                 for fig, label, _ in reads)
    return reads + [EQ3_ALPHA] if at_eq3 else reads


def _identity(raw_point: dict) -> str:
    """The runs behind a point, whichever figure lists it (x is per figure)."""
    return json.dumps({k: v for k, v in raw_point.items() if k != "x"}, sort_keys=True)


def drifts(metrics: dict, reads: list[Read]) -> dict[Read, list[float]] | None:
    """Per quantity a claim compares, its per-seed movement over the last doubling: a point's
    ASC accuracy as its gain over the baseline when the claim reads the baseline (which then
    moves inside every gain, not on its own), anything else as the value itself. One entry
    per set of runs (a point two figures list is one quantity). None when a figure has no
    half-budget values."""
    gains = ASC_BASELINE in reads
    base = metrics.get("baselines")
    out, seen = {}, set()
    for read in dict.fromkeys(reads):
        fig, label, metric = read
        if metric == "eq3_alpha" or (gains and read == ASC_BASELINE) or metrics.get(fig) is None:
            continue
        half = metrics[fig].get("half_budget")
        if half is None or "convergence" not in metrics[fig]:
            return None
        full_p, half_p = metrics[fig]["raw"][label], half["raw"][label]
        if any(v is None for v in full_p[metric] + half_p[metric]):
            continue
        key = (_identity(full_p), _identity(half_p), metric)
        if key in seen:
            continue
        seen.add(key)
        d = paired_values(full_p["seeds"], full_p[metric], half_p["seeds"], half_p[metric])
        if gains and metric == "asc_accuracy" and fig != "baselines":
            b_full, b_half = base["raw"]["asc"], base["half_budget"]["raw"]["asc"]
            moved = dict(zip(b_full["seeds"], paired_values(b_full["seeds"], b_full["asc_accuracy"],
                                                            b_half["seeds"], b_half["asc_accuracy"])))
            d = [x - moved[seed] for seed, x in zip(full_p["seeds"], d) if seed in moved]
        out[read] = d
    return out


def drift_bounds(values, s: StatsParams) -> tuple[float, float]:
    """The one-sided 95 % lower and upper bounds of the mean movement (a 90 % interval);
    the mean itself with one seed."""
    t = mean_test(values, level=2 * s.level)
    return tuple(t["ci"]) if t["ci"] is not None else (t["mean"], t["mean"])


def shifted(metrics: dict, shifts: dict[Read, float]) -> dict:
    """The metrics with each read's per-seed values moved by its shift, wherever the same runs
    are listed (and, for ASC accuracy, its gain over the baseline with it)."""
    out = dict(metrics)
    for (fig, label, metric), shift in shifts.items():
        target = _identity(metrics[fig]["raw"][label])
        for name, f in list(out.items()):
            if not isinstance(f, dict) or "raw" not in f:
                continue
            hits = [lab for lab, p in f["raw"].items() if _identity(metrics[name]["raw"][lab]) == target]
            if not hits:
                continue
            f = out[name] = copy.deepcopy(f) if f is metrics[name] else f
            for lab in hits:
                f["raw"][lab][metric] = [v + shift for v in f["raw"][lab][metric]]
                gain = f["points"].get(lab, {}).get("gain")
                if metric == "asc_accuracy" and gain is not None:
                    gain["per_seed"] = [v + shift for v in gain["per_seed"]]
    return out


def _name(read: Read) -> str:
    fig, label, metric = read
    return f"{fig} {label}{'' if metric == 'asc_accuracy' else ' ' + metric}"


def judge(metrics: dict, reads: list[Read], verdict: str, evaluate, s: StatsParams) -> tuple[str, bool]:
    """(what the Converged column says, whether the claim is held back) for a claim whose
    reads are `reads` and whose verdict on the budget's numbers is `verdict`; `evaluate`
    gives the verdict on other metrics."""
    reads = with_eq3_alpha(metrics, reads)
    alpha_moved = None
    if EQ3_ALPHA in reads:
        a = ((metrics.get("baselines") or {}).get("convergence") or {}).get("eq3_alpha")
        if a is None:
            return "not checked", False
        if not a["converged"]:
            alpha_moved = f"Eq. 3's α {a['from']:.3f} → {a['to']:.3f}"
    moved = drifts(metrics, reads)
    if moved is None:
        return "not checked", False
    tolerance = next(metrics[fig]["convergence"]["tolerance"] for fig, _, _ in reads if metrics.get(fig))
    bounds = {read: drift_bounds(d, s) for read, d in moved.items() if d}
    moving = {read: b for read, b in bounds.items() if not (-tolerance < b[0] and b[1] < tolerance)}
    texts = [f"{_name(r)} {signed(lo)} to {signed(hi)} pp" for r, (lo, hi) in moving.items()]
    if alpha_moved:
        return "no: " + "; ".join([alpha_moved] + texts), True
    if not moving:
        return "yes", False
    if len(moving) > MOST_SHIFTED:
        return f"no: {len(moving)} quantities still move ({'; '.join(texts)})", True
    verdicts = {evaluate(shifted(metrics, dict(zip(moving, corner)))) for corner in itertools.product(*moving.values())}
    if verdicts <= {verdict}:
        return "moving, cannot change the verdict: " + "; ".join(texts), False
    return "no: " + "; ".join(texts) + " could change the verdict", True


def half_budget_metrics(metrics: dict, figure_files) -> dict | None:
    """The metrics as runs of half the budget give them (each figure's `half_budget`): the same
    runs evaluated at epochs // 2, which the budget-independent schedule makes exact."""
    half = {name: (metrics.get(name) or {}).get("half_budget") for name in figure_files}
    if all(v is None for v in half.values()):
        return None
    return {**metrics, **half}


def study_gain_drifts(study: dict, s: StatsParams) -> dict[str, dict[str, tuple[float, float, float]]]:
    """The learning-curve study judged on gains: per scene-scored arm other than the ASC
    baseline, per budget b after the first, (mean, lower, upper) of how far doubling from b / 2
    moved its gain over the baseline, paired by seed (each arm's per-seed values are in the
    study's seed order), with one-sided 95 % bounds."""
    budgets = study["budgets"]
    out = {}
    for label, arm in study["arms"].items():
        if label == "asc" or arm["metric"] != "asc_accuracy":
            continue
        gain = {b: [x - y for x, y in zip(study["points"][f"{label} @{b}"]["asc_accuracy"]["per_seed"],
                                          study["points"][f"asc @{b}"]["asc_accuracy"]["per_seed"])]
                for b in budgets}
        out[label] = {}
        for a, b in zip(budgets, budgets[1:]):
            moved = [y - x for x, y in zip(gain[a], gain[b])]
            lo, hi = drift_bounds(moved, s)
            out[label][str(b)] = (sum(moved) / len(moved), lo, hi)
    return out


def study_gain_plateau(study: dict, s: StatsParams) -> int | None:
    """The smallest budget from which every doubling (its own from its half, and each after it
    in the study) moved every compared gain by less than the tolerance with both one-sided
    95 % bounds, and Eq. 3's α by less than it: a gain that moves again later is no plateau."""
    tol, budgets = study["tolerance"], study["budgets"]
    moved = study_gain_drifts(study, s)
    alpha = study.get("eq3_alpha", {})

    def still(a: int, b: int) -> bool:
        gains = all(-tol < g[str(b)][1] and g[str(b)][2] < tol for g in moved.values())
        return gains and (not alpha or abs(alpha[str(b)] - alpha[str(a)]) < tol)

    steps = list(zip(budgets, budgets[1:]))
    return next((b for i, (_, b) in enumerate(steps) if all(still(x, y) for x, y in steps[i:])), None)
