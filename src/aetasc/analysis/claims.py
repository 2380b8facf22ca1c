"""The paper's claims (numbered as in earlier reports; 2 now covers Eq. 3's α, once claim 3,
and 18 is the paper's first finding): what each reads in the metrics files, how each is evaluated, and the
decision over all of them (evaluate_all).

Every test works on per-seed values (a seed's runs share its initialization and its baseline
run), by the rules of aetasc.analysis.rules; a claim whose metrics file is missing is "not
measured". A claim is decided only on converged runs, and is evaluated at half the budget too
(fragile when that verdict differs).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from aetasc.config import StatsParams
from aetasc.analysis.absence import SAME_TASK_FIGURES, aet_gain_is_not_asc_gain, insensitive_to_k, no_strategy_dependence, \
    tagging_is_not_scene
# distinct_joint_points and with_eq3_alpha: imported for the readers of this module's API (tests)
from aetasc.analysis.magnitudes import JOINT_FIGURES, distinct_joint_points, largest_gain, loss_ratio
from aetasc.analysis.convergence import ASC_BASELINE, EQ3_ALPHA, Read, half_budget_metrics, judge, with_eq3_alpha
from aetasc.analysis.format import fmt_ci, fmt_effect, fmt_power, paired_values, point_at, rho, rows_by_seed, signed
from aetasc.analysis.rules import (FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURED, UNREACHABLE, Detail, Outcome,
                                   effect_part, per_seed_test, verdict_compound, verdict_effect)
from aetasc.stats import trend_per_seed

FIGURE_FILES = ("baselines", "fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41")
FILES = FIGURE_FILES + ("budget", "ranking")


@dataclass(frozen=True)
class Claim:
    number: str
    text: str
    source: str
    paper: str
    needs: tuple[str, ...]
    evaluate: Callable[[dict, StatsParams], Outcome]
    reads: Callable[[dict], list[Read]]     # what must have converged before the claim is decided
    quote: str = ""                         # the paper's sentence the test reads


def _gain_values(point: dict) -> list[float]:
    return point["gain"]["per_seed"]


def _effect(values, s: StatsParams, what: str, details=()) -> Outcome:
    t = per_seed_test(values, s)
    return Outcome(fmt_effect(t), verdict_effect(t, s), what, fmt_ci(t), fmt_power(t, s), tuple(details))


def _effect_detail(label: str, values, s: StatsParams) -> Detail:
    t = per_seed_test(values, s)
    return Detail(label, f"{fmt_effect(t)}, CI {fmt_ci(t)}", verdict_effect(t, s))


def _all_beat(fig: dict, what: str, s: StatsParams) -> Outcome:
    """Each point of a figure beats the ASC baseline: a compound claim."""
    tests = {label: per_seed_test(_gain_values(p), s) for label, p in fig["points"].items()}
    verdict, details = verdict_compound([effect_part(label, t, s) for label, t in tests.items()], s)
    weakest = min(tests.values(), key=lambda t: t["mean"])
    means = [t["mean"] for t in tests.values()]
    ours = (f"gain {fmt_effect(weakest)} (1 point)" if len(tests) == 1 else
            f"gains {signed(min(means))} to {signed(max(means))} pp over {len(tests)} points")
    return Outcome(ours, verdict,
                   f"one-sided paired t-test of each {what} vs the baseline; all must hold (a claim of "
                   f"{len(tests)} part{'' if len(tests) == 1 else 's'})", f"weakest point {fmt_ci(weakest)}", fmt_power(weakest, s), details)


def _near_one(p: dict) -> bool:
    return 0.8 - 1e-9 <= float(p["alpha"]) < 1.0 - 1e-9


def mtl_beats_baseline_near_one(m: dict, s: StatsParams) -> Outcome:
    """Claim 1: every α of the grid in [0.8, 1.0) beats the baseline (a claim of as many parts)."""
    fig = m["fig2"]
    near = {label: p for label, p in fig["points"].items() if _near_one(p)}
    if not near:
        return Outcome("—", NOT_MEASURED, "the α grid has no value in [0.8, 1)")
    out = _all_beat({**fig, "points": near}, "α in [0.8, 1.0)", s)
    alphas = ", ".join(f"{float(p['alpha']):g}" for p in near.values())
    return replace(out, test=out.test + f"; the grid holds α ∈ {{{alphas}}} of the range")


def strategies_beat(m: dict, s: StatsParams) -> Outcome:
    return _all_beat(m["fig3a"], "strategy", s)


def sizes_beat(m: dict, s: StatsParams) -> Outcome:
    return _all_beat(m["fig3b"], "size T", s)


def _grows(fig: dict, metric: str, what: str, s: StatsParams) -> Outcome:
    """A value grows with the figure's x: each seed's fitted change across the grid."""
    labels = sorted(fig["raw"], key=lambda label: float(fig["raw"][label]["x"]))
    xs = [float(fig["raw"][label]["x"]) for label in labels]
    if any(v is None for label in labels for v in fig["raw"][label][metric]):
        return Outcome("—", NOT_MEASURED, f"no {metric} at some point")
    _, rows = rows_by_seed(fig, metric, labels)
    changes = trend_per_seed(xs, rows)
    t = per_seed_test(changes, s)
    means = np.mean(rows, axis=0)
    rho_means = rho(xs, means)
    rhos = [r for r in (rho(xs, row) for row in rows) if r is not None]
    rho_text = (f"ρ over grid means {'n/a' if rho_means is None else f'{rho_means:.2f}'}, "
                f"mean per-seed ρ {'n/a' if not rhos else f'{np.mean(rhos):.2f}'}")
    return Outcome(f"change across the grid {fmt_effect(t)}; {rho_text}", verdict_effect(t, s),
                   f"one-sided t-test of each seed's fitted change of {what} across the grid "
                   f"({len(xs)} points, n = {len(rows)} seeds)", fmt_ci(t), fmt_power(t, s))


def accuracy_grows_with_hours(m: dict, s: StatsParams) -> Outcome:
    return _grows(m["fig3b"], "asc_accuracy", "ASC accuracy with T", s)


def lwlrap_grows_with_hours(m: dict, s: StatsParams) -> Outcome:
    return _grows(m["fig3b"], "lwlrap", "lwlrap with T", s)


def lwlrap_grows_with_alpha(m: dict, s: StatsParams) -> Outcome:
    return _grows(m["fig2"], "lwlrap", "lwlrap with α", s)


def two_events_beat(m: dict, s: StatsParams) -> Outcome:
    fig = m["fig4"]
    label = next((label for label, p in fig["points"].items() if float(p["x"]) == 2), None)
    if label is None:
        return Outcome("—", NOT_MEASURED, "the k grid has no k = 2")
    return _effect(_gain_values(fig["points"][label]), s, "one-sided paired t-test of k = 2 vs the baseline")


def both_frameworks_beat(m: dict, s: StatsParams) -> Outcome:
    return _all_beat(m["fig5"], "framework", s)


def joint_beats_pretraining(m: dict, s: StatsParams) -> Outcome:
    raw = m["fig5"]["raw"]
    joint, pre = raw["joint"], raw["pretrain+finetune"]
    diffs = paired_values(joint["seeds"], joint["asc_accuracy"], pre["seeds"], pre["asc_accuracy"])
    out = _effect(diffs, s, "one-sided paired t-test of joint > pre-train + fine-tune, paired by seed")
    return Outcome("joint - pre-train: " + out.ours, out.verdict, out.test, out.interval, out.power)


def high_alpha_beats_at_every_size(m: dict, s: StatsParams) -> Outcome:
    """Sec. 4.1: at every α of the grid in [0.8, 1.0) ("higher values of α", the range of
    claim 1), MTL beats the baseline on every data set."""
    fig = m["sec41"]
    high = {label: p for label, p in fig["points"].items() if _near_one(p)}
    if not high:
        return Outcome("—", NOT_MEASURED, "the Sec. 4.1 grid has no α in [0.8, 1.0)")
    alphas = ", ".join(sorted({f"{float(p['alpha']):g}" for p in high.values()}))
    out = _all_beat({**fig, "points": high}, f"data set at α ∈ {{{alphas}}}", s)
    sizes = {float(p["x"]) for p in high.values()}
    left_out = sorted({float(p["x"]) for p in (m.get("fig3b") or {"raw": {}})["raw"].values()} - sizes)
    return replace(out, test=out.test + (f"; Fig. 3b's sizes not in this grid: "
                                         f"{', '.join(f'T = {x:g} h' for x in left_out)}" if left_out else
                                         "; every Fig. 3b size is in this grid"))


def aet_beats_regularizers(m: dict, s: StatsParams) -> Outcome:
    raw = m["regularizers"]["raw"]
    aet = raw["aet"]
    tests = {other: per_seed_test(paired_values(aet["seeds"], aet["asc_accuracy"], raw[other]["seeds"],
                                          raw[other]["asc_accuracy"]), s)
             for other in ("dropout", "mixup", "specaugment")}
    verdict, details = verdict_compound([effect_part(f"aet vs {o}", t, s) for o, t in tests.items()], s)
    weakest = min(tests.values(), key=lambda t: t["mean"])
    return Outcome("aet " + "; ".join(f"vs {o} {signed(t['mean'])} pp" for o, t in tests.items()), verdict,
                   "one-sided paired t-test of AET-only regularization (joint, no other regularizer) > each "
                   f"single regularizer (ASC only); all must hold (a claim of {len(tests)} parts)",
                   f"weakest {fmt_ci(weakest)}", fmt_power(weakest, s), details)


def points_of(figure: str, metric: str = "asc_accuracy", keep=lambda label, p: True,
              gains: bool = True) -> Callable[[dict], list[Read]]:
    """The reads of a claim on a figure's points (those `keep` selects); a claim of gains over
    the ASC baseline also reads the baseline."""
    def reads(m: dict) -> list[Read]:
        fig = m.get(figure)
        if fig is None:
            return []
        return ([(figure, label, metric) for label, p in fig["points"].items() if keep(label, p)]
                + ([ASC_BASELINE] if gains else []))
    return reads


def _tagging_reads(m: dict) -> list[Read]:
    fig = m.get("fig2")
    half, zero = (point_at(fig, 0.5), point_at(fig, 0.0)) if fig else (None, None)
    if half is None or zero is None:
        return []
    return [("fig2", half, "lwlrap"), ("fig2", zero, "lwlrap"), ("fig2", half, "asc_accuracy"), ASC_BASELINE]


def _joint_point_reads(m: dict) -> list[Read]:
    return [read for name in JOINT_FIGURES
            for read in points_of(name, keep=lambda label, p: 0 < float(p["alpha"]) < 1, gains=False)(m)
            ] + [ASC_BASELINE]


def _same_task_reads(m: dict) -> list[Read]:
    return [(name, label, metric) for name in SAME_TASK_FIGURES if m.get(name)
            for label, p in m[name]["points"].items() if float(p["alpha"]) < 1.0
            for metric in ("asc_accuracy", "lwlrap")]


CLAIMS = (
    Claim("1", "MTL beats the ASC baseline for α ∈ [0.8, 1.0)", "Fig. 2", "above baseline",
          ("fig2",), mtl_beats_baseline_near_one, points_of("fig2", keep=lambda label, p: _near_one(p)),
          "the multi-task network outperforms the ASC baseline in terms of scene classification accuracy for "
          "higher values of α ∈ [0.8, 1.0)"),
    Claim("2", "At convergence L\\*_AET ≈ L\\*_ASC / 20, so Eq. 3 gives α ≈ 0.95", "Sec. 4.1, Eq. 3",
          "L\\*_ASC / L\\*_AET ≈ 20, α = 0.95", ("baselines",), loss_ratio, lambda m: [EQ3_ALPHA],
          "upon convergence L∗AET ≈ L∗ASC /20 ... ∴ α ≈ L∗ASC / (L∗ASC + L∗AET) ... fix α = 0.95"),
    Claim("4", "Better event tagging does not mean better scene classification", "Fig. 2",
          "lwlrap ≈ 76 % at α = 0.5, ≈ 10 % at α = 0; ASC not above baseline at 0.5",
          ("fig2",), tagging_is_not_scene, _tagging_reads,
          "the multi-task network trained with α = 0.5 is a much better event tagger. However, this improved "
          "event tagging ability does not translate to improved scene classification accuracy"),
    Claim("5", "Each event-choice strategy beats the baseline", "Fig. 3a", "all above baseline",
          ("fig3a",), strategies_beat, points_of("fig3a"),
          "AET event-classes obtained from either of the sampling strategies outperforms the baseline ASC system"),
    Claim("6", "ASC accuracy does not depend on the choice of events", "Fig. 3a", "no dependence",
          ("fig3a",), no_strategy_dependence, points_of("fig3a", gains=False),
          "this improvement in performance is uncorrelated with the choice of the events used to train the AET "
          "task; (abstract) not sensitive to the choice of events"),
    Claim("7", "Every AET data size T beats the baseline", "Fig. 3b", "all above baseline",
          ("fig3b",), sizes_beat, points_of("fig3b"),
          "the multi-task learning model outperforms the baseline ASC system for all values T"),
    Claim("8", "ASC accuracy grows with T", "Fig. 3b", "ρ = 0.89 over its grid points",
          ("fig3b",), accuracy_grows_with_hours, points_of("fig3b", gains=False),
          "ASC accuracy continues to increase with an increase in the event training data size ... ρ = 0.89"),
    Claim("9", "Even k = 2 (the two most abundant events) beats the baseline", "Fig. 4", "above baseline",
          ("fig4",), two_events_beat, points_of("fig4", keep=lambda label, p: float(p["x"]) == 2),
          "even when the AET task is trained to classify only between 'music' and 'speech' events, the "
          "multi-task learning scene classifier outperforms the baseline model"),
    Claim("10", "ASC accuracy depends only weakly on k (within the margin)", "Fig. 4, abstract",
          "ρ = 0.24 over its grid points; marginal influence after k = 35", ("fig4",), insensitive_to_k,
          points_of("fig4", gains=False),
          "after k = 35, increasing the number of event classes further has marginal influence on the scene "
          "accuracy. In general, the ASC performance has a weak positive correlation with the number of events "
          "..., ρ = 0.24; (abstract) not sensitive to ... the number of events"),
    Claim("11", "Both pre-train + fine-tune and joint training beat the baseline", "Fig. 5",
          "both above baseline", ("fig5",), both_frameworks_beat, points_of("fig5"),
          "both frameworks outperform the baseline"),
    Claim("12", "Joint training is marginally better than pre-train + fine-tune", "Fig. 5",
          "joint > pre-train", ("fig5",), joint_beats_pretraining, points_of("fig5", gains=False),
          "joint-training is marginally better than fine tuning"),
    Claim("13", "Up to +5 % ASC accuracy over the baseline", "Sec. 1", "+5 pp", (), largest_gain,
          _joint_point_reads,
          "Consistent improvements in ASC (up to 5% accuracy compared to a competitive baseline) are observed "
          "when the multi-task loss function is balanced"),
    Claim("14", "AET is a stronger regularizer than MixUp, Dropout and SpecAugment", "Sec. 1, 4.1",
          "stated, not plotted", ("regularizers",), aet_beats_regularizers,
          points_of("regularizers", keep=lambda label, p: label in ("aet", "dropout", "mixup", "specaugment"),
                    gains=False),
          "the regularization effect of using AET to improve ASC is more effective than some of the well known "
          "regularization strategies of Mix-up, Dropout, and SpecAugment"),
    Claim("15", "Event lwlrap grows with T", "Fig. 3b", "lwlrap increases", ("fig3b",), lwlrap_grows_with_hours,
          points_of("fig3b", "lwlrap", gains=False),
          "As expected, the lwlrap also increases with an increase in training data for AET"),
    Claim("16", "Event lwlrap grows with α", "Fig. 2", "lwlrap increases", ("fig2",), lwlrap_grows_with_alpha,
          points_of("fig2", "lwlrap", gains=False),
          "As α increases from 0 to 1, the event tagging performance (lwlrap) of the multi-task network increases"),
    Claim("17", "MTL beats the baseline at high α on each of several AET data sets (T)", "Sec. 4.1",
          "above baseline for all 6 sets", ("sec41",), high_alpha_beats_at_every_size,
          points_of("sec41", keep=lambda label, p: _near_one(p)),
          "We repeat this experiment on 6 separate AET data sets ... 11 to 360 hours. In each of these cases, we "
          "observe that the performance of the multi-task network improves over the ASC baseline for higher "
          "values of α"),
    Claim("18", "AET gains are not in general followed by ASC gains", "Sec. 1", "not correlated",
          ("fig2",), aet_gain_is_not_asc_gain, _same_task_reads,
          "Performance improvements in AET task are not in general correlated with improvements in ASC task. "
          "With AET and ASC tasks fixed, the performance improvement in AET does not guarantee performance "
          "improvement in ASC"),
)


def evaluate(claim: Claim, metrics: dict, s: StatsParams) -> Outcome:
    missing = [name for name in claim.needs if metrics.get(name) is None]
    if missing:
        return Outcome("—", NOT_MEASURED, "missing " + ", ".join(f"{n}.json" for n in missing))
    unpaired = [name for name in claim.needs if name != "baselines" and metrics[name].get("baseline") is None]
    if unpaired:   # trained before the baselines existed: no gains to test
        return Outcome("—", NOT_MEASURED, "no ASC baseline in " + ", ".join(f"{n}.json" for n in unpaired))
    return claim.evaluate(metrics, s)


def evaluate_all(metrics: dict, s: StatsParams) -> list[tuple[Claim, Outcome]]:
    """Every claim with its outcome, in the report's order: computed once, read by the
    report and by metrics/summary.json.

    A claim is decided only when its runs trained long enough for it (convergence.judge:
    what it compares moved by less than the tolerance over the last doubling, or by no more
    than could leave its verdict as it is); otherwise its verdict is *inconclusive* (the
    verdict the numbers would give is kept in "Ours"). Each claim is also evaluated at half
    the budget; a verdict that differs there is marked fragile.
    """
    half = half_budget_metrics(metrics, FIGURE_FILES)
    out = []
    for c in CLAIMS:
        o = evaluate(c, metrics, s)
        if o.verdict != NOT_MEASURED:
            converged, held_back = judge(metrics, c.reads(metrics), o.verdict,
                                         lambda m, c=c: evaluate(c, m, s).verdict, s)
            at_half = evaluate(c, half, s).verdict if half is not None else "—"
            o = replace(o, converged=converged,
                        at_half_budget=at_half if at_half in ("—", o.verdict) else f"{at_half} (fragile)")
            if held_back and o.verdict in (HOLDS, FAILS, UNREACHABLE):
                o = replace(o, verdict=INCONCLUSIVE,
                            ours=f"{o.ours} (would be: {o.verdict}; runs not converged)")
        out.append((c, o))
    return out


def is_fragile(o: Outcome) -> bool:
    return o.at_half_budget.endswith("(fragile)")


def load_metrics(folder: str | Path) -> tuple[dict, dict]:
    """({name: parsed JSON or None when missing}, {name: sha256 prefix of the file})."""
    metrics, digests = {}, {}
    for name in FILES:
        path = Path(folder) / f"{name}.json"
        if path.is_file():
            data = path.read_bytes()
            metrics[name] = json.loads(data)
            digests[name] = hashlib.sha256(data).hexdigest()[:12]
        else:
            metrics[name] = None
    return metrics, digests
