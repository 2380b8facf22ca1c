"""The paper's 17 claims: what each reads in the metrics files, how each is evaluated, and the
decision over all of them (evaluate_all).

Every test works on per-seed values (a seed's runs share its initialization and its baseline
run), by the rules of aetasc.analysis.rules; a claim whose metrics file is missing is "not
measured". A claim is decided only on converged runs, and is evaluated at half the budget too
(fragile when that verdict differs).
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from aetasc.config import StatsParams
from aetasc.analysis.format import (confidence_label, eq3_alphas, fmt_ci, fmt_effect, fmt_p, fmt_power, loss_ratios,
                                    point_at, rho, rows_by_seed, signed)
from aetasc.analysis.rules import (FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURED, Detail, absence_part, effect_part,
                                   verdict_band, verdict_compound, verdict_effect)
from aetasc.stats import mean_test, rm_anova, trend_per_seed

FIGURE_FILES = ("baselines", "fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41")
FILES = FIGURE_FILES + ("budget", "ranking")
JOINT_FIGURES = ("fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41")

LOSS_RATIO_RANGE = (10.0, 40.0)  # within a factor 2 of the paper's L*_ASC / L*_AET = 20 (Sec. 4.1)
PAPER_ALPHA = 0.95
ALPHA_TOLERANCE = 0.025
PAPER_GAIN = 0.05                # "up to +5 %" (Sec. 1)


@dataclass(frozen=True)
class Outcome:
    ours: str
    verdict: str
    test: str
    interval: str = "—"
    power: str = "—"
    details: tuple[Detail, ...] = ()
    confidence: float | None = None     # of `interval`; None: the report's 1 - level
    converged: str = "—"                # did the runs it rests on converge (evaluate_all)
    at_half_budget: str = "—"           # the verdict on the same runs at half the budget


Read = tuple[str, str, str]    # (figure, point label, metric): a quantity a claim rests on
ASC_BASELINE: Read = ("baselines", "asc", "asc_accuracy")
EQ3_ALPHA: Read = ("baselines", "Eq. 3", "eq3_alpha")


@dataclass(frozen=True)
class Claim:
    number: str
    text: str
    source: str
    paper: str
    needs: tuple[str, ...]
    evaluate: Callable[[dict, StatsParams], Outcome]
    reads: Callable[[dict], list[Read]]     # what must have converged before the claim is decided


def per_seed_test(values, s: StatsParams, level: float | None = None) -> dict:
    return mean_test(values, level=s.level if level is None else level, margin=s.equivalence_margin,
                     power=s.power)


def _paired(seeds_a, a, seeds_b, b) -> list[float]:
    """a - b per seed, for the seeds both have."""
    by_seed = dict(zip(seeds_b, b))
    return [x - by_seed[seed] for seed, x in zip(seeds_a, a) if seed in by_seed]


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
    return Outcome(f"gains {signed(min(means))} to {signed(max(means))} pp over {len(tests)} points", verdict,
                   f"one-sided paired t-test of each {what} vs the baseline; all must hold (a claim of "
                   f"{len(tests)} parts)", f"weakest point {fmt_ci(weakest)}", fmt_power(weakest, s), details)


def mtl_beats_baseline_near_one(m: dict, s: StatsParams) -> Outcome:
    fig = m["fig2"]
    labels = [label for label, p in fig["points"].items() if 0.8 - 1e-9 <= float(p["alpha"]) < 1.0 - 1e-9]
    if not labels:
        return Outcome("—", NOT_MEASURED, "the α grid has no value in [0.8, 1)")
    seeds = fig["points"][labels[0]]["gain"]["per_seed"]
    per_seed = np.mean([_gain_values(fig["points"][label]) for label in labels], axis=0)
    alphas = ", ".join(f"{float(fig['points'][label]['alpha']):g}" for label in labels)
    return _effect(per_seed, s, f"one-sided t-test of each seed's mean gain over α ∈ {{{alphas}}} "
                                f"(n = {len(seeds)} seeds); per α below",
                   [_effect_detail(label, _gain_values(fig["points"][label]), s) for label in labels])


def _band(values, lo: float, hi: float, s: StatsParams, what: str, fmt) -> Outcome:
    t = per_seed_test(values, s)
    ci = "n/a" if t["ci"] is None else f"[{fmt(t['ci'][0])}, {fmt(t['ci'][1])}]"
    return Outcome(f"{fmt(t['mean'])} (per seed {fmt(min(values))} to {fmt(max(values))})",
                   verdict_band(t, lo, hi), f"{what} within [{fmt(lo)}, {fmt(hi)}]: the interval must lie "
                                            "inside", ci)


def loss_ratio(m: dict, s: StatsParams) -> Outcome:
    lo, hi = LOSS_RATIO_RANGE
    return _band(loss_ratios(m["baselines"]), lo, hi, s,
                 "mean over seeds of L\\*_ASC / L\\*_AET (last-epoch training losses of the baselines), "
                 "a factor 2 of 20:", lambda v: f"{v:.1f}")


def eq3_alpha(m: dict, s: StatsParams) -> Outcome:
    alphas = eq3_alphas(m["baselines"])
    return _band(alphas, PAPER_ALPHA - ALPHA_TOLERANCE, PAPER_ALPHA + ALPHA_TOLERANCE, s,
                 "mean over seeds of Eq. 3's α = L\\*_ASC / (L\\*_ASC + L\\*_AET)", lambda v: f"{v:.3f}")


def tagging_is_not_scene(m: dict, s: StatsParams) -> Outcome:
    fig = m["fig2"]
    half, zero = point_at(fig, 0.5), point_at(fig, 0.0)
    if half is None or zero is None:
        return Outcome("—", NOT_MEASURED, "the α grid lacks 0 or 0.5")
    raw_half, raw_zero = fig["raw"][half], fig["raw"][zero]
    if None in raw_half["lwlrap"] + raw_zero["lwlrap"]:
        return Outcome("—", NOT_MEASURED, "no lwlrap at α = 0 or 0.5")
    tagging = per_seed_test(_paired(raw_half["seeds"], raw_half["lwlrap"], raw_zero["seeds"], raw_zero["lwlrap"]), s)
    scene = per_seed_test(_gain_values(fig["points"][half]), s)
    verdict, details = verdict_compound(
        [effect_part("lwlrap(0.5) > lwlrap(0)", tagging, s),
         absence_part("ASC gain at α = 0.5 not above 0", scene, s,
                      f"{fmt_effect(scene)}, CI {fmt_ci(scene)}, equivalence {fmt_p(scene['p_equivalent'])}")], s)
    return Outcome(f"lwlrap {signed(tagging['mean'])} pp from α = 0 to 0.5 ({fmt_p(tagging['p_greater'])}); "
                   f"ASC gain at α = 0.5: {fmt_effect(scene)}, equivalence {fmt_p(scene['p_equivalent'])}",
                   verdict,
                   "holds if lwlrap(0.5) > lwlrap(0) (an effect) and the ASC gain at α = 0.5 is within the "
                   "margin or below zero (an absence), a claim of 2 parts; the interval and power are the ASC "
                   "gain's", fmt_ci(scene), fmt_power(scene, s), details)


def strategies_beat(m: dict, s: StatsParams) -> Outcome:
    return _all_beat(m["fig3a"], "strategy", s)


def no_strategy_dependence(m: dict, s: StatsParams) -> Outcome:
    raw = m["fig3a"]["raw"]
    labels = list(raw)
    _, rows = rows_by_seed(m["fig3a"], "asc_accuracy", labels)
    anova = rm_anova(rows)
    pairs = list(itertools.combinations(range(len(labels)), 2))
    level = s.level / max(1, len(pairs))
    tests = {(labels[i], labels[j]): mean_test([r[i] - r[j] for r in rows], level=level,
                                               margin=s.equivalence_margin, power=s.power)
             for i, j in pairs}
    equivalent = all(t["p_equivalent"] is not None and t["p_equivalent"] < level for t in tests.values())
    if equivalent:
        verdict = HOLDS
    elif anova["gg_p_value"] is not None and anova["gg_p_value"] < s.level:
        verdict = FAILS
    else:
        verdict = INCONCLUSIVE
    widest = max(tests.values(), key=lambda t: abs(t["mean"]))
    f = ("F undefined" if anova["F"] is None else
         f"F = {anova['F']:.2f}, Greenhouse-Geisser ε̂ = {anova['gg_epsilon']:.2f}, {fmt_p(anova['gg_p_value'])} "
         f"(uncorrected {fmt_p(anova['p_value'])})")
    conf = confidence_label(1 - level)
    return Outcome(f"repeated-measures ANOVA {f}; largest pairwise difference {signed(widest['mean'])} pp",
                   verdict,
                   f"holds if every pair of the {len(labels)} strategies is equivalent within the margin "
                   f"(two one-sided tests, paired by seed, level {level:.4f} for {len(pairs)} pairs); does not "
                   "hold if the repeated-measures ANOVA (paired by seed, Greenhouse-Geisser-corrected) is "
                   "significant",
                   f"largest pair {fmt_ci(widest)}", fmt_power(widest, s),
                   tuple(Detail(f"{a} - {b}", f"{signed(t['mean'])} pp, {conf} {fmt_ci(t)}, equivalence "
                                              f"{fmt_p(t['p_equivalent'])}",
                                HOLDS if t["p_equivalent"] is not None and t["p_equivalent"] < level
                                else INCONCLUSIVE)
                         for (a, b), t in tests.items()),
                   confidence=1 - level)


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


def accuracy_grows_with_k(m: dict, s: StatsParams) -> Outcome:
    return _grows(m["fig4"], "asc_accuracy", "ASC accuracy with k", s)


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
    diffs = _paired(joint["seeds"], joint["asc_accuracy"], pre["seeds"], pre["asc_accuracy"])
    out = _effect(diffs, s, "one-sided paired t-test of joint > pre-train + fine-tune, paired by seed")
    return Outcome("joint - pre-train: " + out.ours, out.verdict, out.test, out.interval, out.power)


def distinct_joint_points(m: dict) -> list[tuple[list[str], list[float]]]:
    """Every point trained jointly (0 < α < 1), once: ([its "figure label" names], per-seed
    gains). Figures that share runs (the run store trains a point's runs once) list the same
    point with the same α, seeds, per-seed results and gains; such entries are one point."""
    points: dict[str, tuple[list[str], list[float]]] = {}
    for name in JOINT_FIGURES:
        fig = m.get(name)
        if not fig:
            continue
        for label, p in fig["points"].items():
            if not (0 < float(p["alpha"]) < 1 and "gain" in p):
                continue
            runs = {k: v for k, v in fig["raw"][label].items() if k != "x"}      # x is per figure
            identity = json.dumps([runs, _gain_values(p)], sort_keys=True)
            points.setdefault(identity, ([], _gain_values(p)))[0].append(f"{name} {label}")
    return list(points.values())


def largest_gain(m: dict, s: StatsParams) -> Outcome:
    """"Up to +5 %": does some joint-training point gain +5 pp? Simultaneous intervals over
    the distinct points decide it."""
    points = distinct_joint_points(m)
    if not points:
        return Outcome("—", NOT_MEASURED, "no figure with joint-training points has run")
    level = s.level / len(points)
    tests = [per_seed_test(gains, s, level) for _, gains in points]
    named = [(" = ".join(names), t) for (names, _), t in zip(points, tests)]
    bounded = [(name, t) for name, t in named if t["ci"] is not None]
    if any(t["ci"][0] > 0 and t["ci"][1] >= PAPER_GAIN for _, t in bounded):
        verdict = HOLDS
    elif len(bounded) == len(named) and all(t["ci"][1] < PAPER_GAIN for _, t in bounded):
        verdict = FAILS
    else:
        verdict = INCONCLUSIVE
    conf = confidence_label(1 - level)
    best = max(range(len(points)), key=lambda i: tests[i]["mean"])
    if bounded:
        top_name, top = max(bounded, key=lambda nt: nt[1]["ci"][1])
        low_name, low = max(bounded, key=lambda nt: nt[1]["ci"][0])
        interval = (f"highest upper bound {signed(top['ci'][1])} pp ({top_name}), highest lower bound "
                    f"{signed(low['ci'][0])} pp ({low_name}); jointly {100 * (1 - s.level):.0f} % over the "
                    f"{len(points)} points")
    else:
        interval = "n/a"
    missing = [f for f in JOINT_FIGURES if not m.get(f)]
    shared = sum(len(names) for names, _ in points) - len(points)
    details = tuple(Detail(name, f"{fmt_effect(t)}, {conf} {fmt_ci(t)}",
                           "n/a" if t["ci"] is None else "below +5 pp" if t["ci"][1] < PAPER_GAIN
                           else "above 0, reaches +5 pp" if t["ci"][0] > 0 else "undecided")
                    for name, t in named)
    return Outcome(f"largest mean gain {fmt_effect(tests[best])} at {named[best][0]}", verdict,
                   f"every one of the {len(points)} distinct joint-training points (0 < α < 1; {shared} more "
                   f"listed by a second figure, counted once) gets a {conf} (level {level:.4f}, Bonferroni "
                   "over the points): does not hold if every upper bound is below +5 pp, holds if some "
                   "interval lies above 0 and reaches +5 pp" + (f"; not run: {', '.join(missing)}" if missing else ""),
                   interval, fmt_power(per_seed_test(points[best][1], s), s),
                   details, confidence=1 - level)


def high_alpha_beats_at_every_size(m: dict, s: StatsParams) -> Outcome:
    """Sec. 4.1: at the grid's highest alpha below 1, MTL beats the baseline on every data set."""
    fig = m["sec41"]
    alpha = max(float(p["alpha"]) for p in fig["points"].values() if float(p["alpha"]) < 1.0)
    high = {label: p for label, p in fig["points"].items() if abs(float(p["alpha"]) - alpha) < 1e-9}
    return _all_beat({**fig, "points": high}, f"data set at α = {alpha:g}", s)


def aet_beats_regularizers(m: dict, s: StatsParams) -> Outcome:
    raw = m["regularizers"]["raw"]
    aet = raw["aet"]
    tests = {other: per_seed_test(_paired(aet["seeds"], aet["asc_accuracy"], raw[other]["seeds"],
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


def _high_alpha_reads(m: dict) -> list[Read]:
    fig = m.get("sec41")
    if fig is None:
        return []
    alpha = max(float(p["alpha"]) for p in fig["points"].values() if float(p["alpha"]) < 1.0)
    return points_of("sec41", keep=lambda label, p: abs(float(p["alpha"]) - alpha) < 1e-9)(m)


CLAIMS = (
    Claim("1", "MTL beats the ASC baseline for α ∈ [0.8, 1.0)", "Fig. 2", "above baseline",
          ("fig2",), mtl_beats_baseline_near_one,
          points_of("fig2", keep=lambda label, p: 0.8 - 1e-9 <= float(p["alpha"]) < 1.0 - 1e-9)),
    Claim("2", "At convergence L\\*_AET ≈ L\\*_ASC / 20", "Sec. 4.1", "L\\*_ASC / L\\*_AET ≈ 20",
          ("baselines",), loss_ratio, lambda m: [EQ3_ALPHA]),
    Claim("3", "Eq. 3 gives α ≈ 0.95", "Eq. 3", "α = 0.95", ("baselines",), eq3_alpha, lambda m: [EQ3_ALPHA]),
    Claim("4", "Better event tagging does not mean better scene classification", "Fig. 2",
          "lwlrap ≈ 76 % at α = 0.5, ≈ 10 % at α = 0; ASC not above baseline at 0.5",
          ("fig2",), tagging_is_not_scene, _tagging_reads),
    Claim("5", "Each event-choice strategy beats the baseline", "Fig. 3a", "all above baseline",
          ("fig3a",), strategies_beat, points_of("fig3a")),
    Claim("6", "ASC accuracy does not depend on the choice of events", "Fig. 3a", "no dependence",
          ("fig3a",), no_strategy_dependence, points_of("fig3a", gains=False)),
    Claim("7", "Every AET data size T beats the baseline", "Fig. 3b", "all above baseline",
          ("fig3b",), sizes_beat, points_of("fig3b")),
    Claim("8", "ASC accuracy grows with T", "Fig. 3b", "ρ = 0.89 over its grid points",
          ("fig3b",), accuracy_grows_with_hours, points_of("fig3b", gains=False)),
    Claim("9", "Even k = 2 (the two most abundant events) beats the baseline", "Fig. 4", "above baseline",
          ("fig4",), two_events_beat, points_of("fig4", keep=lambda label, p: float(p["x"]) == 2)),
    Claim("10", "ASC accuracy has a weak positive correlation with k", "Fig. 4", "ρ = 0.24 over its grid points",
          ("fig4",), accuracy_grows_with_k, points_of("fig4", gains=False)),
    Claim("11", "Both pre-train + fine-tune and joint training beat the baseline", "Fig. 5",
          "both above baseline", ("fig5",), both_frameworks_beat, points_of("fig5")),
    Claim("12", "Joint training is marginally better than pre-train + fine-tune", "Fig. 5",
          "joint > pre-train", ("fig5",), joint_beats_pretraining, points_of("fig5", gains=False)),
    Claim("13", "Up to +5 % ASC accuracy over the baseline", "Sec. 1", "+5 pp", (), largest_gain,
          _joint_point_reads),
    Claim("14", "AET is a stronger regularizer than MixUp, Dropout and SpecAugment", "Sec. 1, 4.1",
          "stated, not plotted", ("regularizers",), aet_beats_regularizers,
          points_of("regularizers", keep=lambda label, p: label in ("aet", "dropout", "mixup", "specaugment"),
                    gains=False)),
    Claim("15", "Event lwlrap grows with T", "Fig. 3b", "lwlrap increases", ("fig3b",), lwlrap_grows_with_hours,
          points_of("fig3b", "lwlrap", gains=False)),
    Claim("16", "Event lwlrap grows with α", "Fig. 2", "lwlrap increases", ("fig2",), lwlrap_grows_with_alpha,
          points_of("fig2", "lwlrap", gains=False)),
    Claim("17", "MTL beats the baseline at high α on each of several AET data sets (T)", "Sec. 4.1",
          "above baseline for all 6 sets", ("sec41",), high_alpha_beats_at_every_size, _high_alpha_reads),
)


def evaluate(claim: Claim, metrics: dict, s: StatsParams) -> Outcome:
    missing = [name for name in claim.needs if metrics.get(name) is None]
    if missing:
        return Outcome("—", NOT_MEASURED, "missing " + ", ".join(f"{n}.json" for n in missing))
    unpaired = [name for name in claim.needs if name != "baselines" and metrics[name].get("baseline") is None]
    if unpaired:   # trained before the baselines existed: no gains to test
        return Outcome("—", NOT_MEASURED, "no ASC baseline in " + ", ".join(f"{n}.json" for n in unpaired))
    return claim.evaluate(metrics, s)


def with_eq3_alpha(metrics: dict, reads: list[Read]) -> list[Read]:
    """A claim's reads and, when one of its points trained at the α the baselines' losses gave
    (Eq. 3; `at_eq3_alpha`, written by the training stage), that α: a budget that still moved
    it would train them elsewhere."""
    if EQ3_ALPHA in reads:
        return reads
    at_eq3 = any(((metrics.get(fig) or {}).get("points", {}).get(label) or {}).get("at_eq3_alpha")
                 for fig, label, _ in reads)
    return reads + [EQ3_ALPHA] if at_eq3 else reads


def unconverged_reads(metrics: dict, reads: list[Read]) -> list[str] | None:
    """The quantities among `reads` that did not meet the convergence criterion from half the
    budget to the budget ("fig label [lwlrap] +rise pp", "Eq. 3's α a → b"); None when a
    figure does not say (metrics written without the check)."""
    out = []
    for fig, label, metric in dict.fromkeys(reads):
        if metrics.get(fig) is None:
            continue
        conv = metrics[fig].get("convergence")
        if conv is None:
            return None
        if metric == "eq3_alpha":
            a = conv.get("eq3_alpha")
            if a is None:
                return None
            if not a["converged"]:
                out.append(f"Eq. 3's α {a['from']:.3f} → {a['to']:.3f}")
            continue
        point = conv["points"].get(label)
        if point is None or "rises" not in point:
            return None
        rise = point["rises"].get(metric)
        if rise is not None and rise >= conv["tolerance"]:
            out.append(f"{fig} {label}{'' if metric == 'asc_accuracy' else ' ' + metric} {signed(rise)} pp")
    return out


def half_budget_metrics(metrics: dict) -> dict | None:
    """The metrics as runs of half the budget give them (each figure's `half_budget`): the same
    runs evaluated at epochs // 2, which the budget-independent schedule makes exact."""
    half = {name: (metrics.get(name) or {}).get("half_budget") for name in FIGURE_FILES}
    if all(v is None for v in half.values()):
        return None
    return {**metrics, **half}


def evaluate_all(metrics: dict, s: StatsParams) -> list[tuple[Claim, Outcome]]:
    """Every claim with its outcome, in the report's order: computed once, read by the
    report and by metrics/summary.json.

    A claim is decided only on converged runs: when a quantity it reads (`Claim.reads`, with
    Eq. 3's α for points trained at it) did not meet the convergence criterion, its verdict is
    *inconclusive* (the verdict the numbers would give is kept in "Ours"). Each claim is also
    evaluated at half the budget; a verdict that differs there is marked fragile.
    """
    half = half_budget_metrics(metrics)
    out = []
    for c in CLAIMS:
        o = evaluate(c, metrics, s)
        if o.verdict != NOT_MEASURED:
            behind = unconverged_reads(metrics, with_eq3_alpha(metrics, c.reads(metrics)))
            converged = "not checked" if behind is None else ("yes" if not behind else "no: " + "; ".join(behind))
            at_half = evaluate(c, half, s).verdict if half is not None else "—"
            o = replace(o, converged=converged,
                        at_half_budget=at_half if at_half in ("—", o.verdict) else f"{at_half} (fragile)")
            if behind and o.verdict in (HOLDS, FAILS):
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
