"""The claims report: each claim of the paper, the paper's number, ours, and a verdict.

Verdicts are computed from the metrics files by the rules in `rules()`, never written by
hand; a claim whose metrics file is missing is reported as "not measured". Every test works
on per-seed values (a seed's runs share its initialization and its baseline run), every row
shows a confidence interval (naming its level where it is not the report's), and every effect
test shows its power: the minimum effect it detects with the seeds and the spread observed,
and the seeds that would detect the paper's effect size. A claim of an effect *does not hold*
when the opposite effect is significant or when the effect is shown to be smaller than the
equivalence margin; a claim of no effect *holds* only when equivalence is shown. A claim of
several parts holds when each part does, and fails when one part fails after Holm's
correction over the parts.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .config import StatsParams
from .stats import holm, mean_test, rm_anova, seeds_needed, trend_per_seed

FIGURE_FILES = ("baselines", "fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41")
FILES = FIGURE_FILES + ("budget", "ranking")
JOINT_FIGURES = ("fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41")

HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED = "holds", "does not hold", "inconclusive", "not measured"
PAPER_LOSS_RATIO = 20.0          # L*_ASC / L*_AET at convergence (Sec. 4.1)
LOSS_RATIO_RANGE = (10.0, 40.0)  # within a factor 2 of the paper's ratio
PAPER_ALPHA = 0.95
ALPHA_TOLERANCE = 0.025
PAPER_GAIN = 0.05                # "up to +5 %" (Sec. 1)


def rules(s: StatsParams) -> str:
    m = signed(s.equivalence_margin).lstrip("+")
    return f"""\
- Every test works on one value per seed: a gain is MTL minus the ASC baseline of the same seed; a
  claim over several grid points sharing a seed's baseline averages them per seed first. Tests are
  t-tests on the per-seed values (n = seeds), at level {s.level}; intervals are two-sided
  {confidence_label(1 - s.level)}s, except where the interval column names another level (a Bonferroni-corrected one).
- **A claimed effect** ("beats the baseline", "A is better than B", "grows with"): *holds* if the
  one-sided test in the claimed direction gives p < {s.level}; *does not hold* if the test in the other
  direction does, or if the two one-sided tests show the effect within ±{m} pp (equivalence); *inconclusive*
  otherwise. "Grows with x" is tested on each seed's fitted change across the grid (slope × range of x).
- **A claimed absence** ("no dependence", "not better"): *holds* only if equivalence within ±{m} pp is
  shown (for several conditions: every pair, Bonferroni-corrected); *does not hold* if the effect is
  significant (several conditions: the repeated-measures ANOVA across them, paired by seed, with the
  Greenhouse-Geisser correction for non-sphericity: both degrees of freedom times
  ε̂ = tr(S)² / ((k − 1) tr(S²)), S the covariance over seeds of k − 1 orthonormal contrasts of the k
  conditions); *inconclusive* otherwise. Not finding an effect is never reported as its absence.
- **"approximately equals"** (a band around the paper's number): *holds* if the confidence interval of the
  mean lies inside the band, *does not hold* if it lies outside, *inconclusive* otherwise.
- **"up to +5 %"**, read as "some joint-training point gains +5 pp": each distinct joint-training point
  (0 < α < 1; a point two figures share, i.e. the same runs, counts once) gets an interval at level
  {s.level} / m, m the number of distinct points, so that all m hold together with {100 * (1 - s.level):.0f} % confidence
  (Bonferroni). *Does not hold* if every upper bound is below +5 pp (no point reaches it); *holds* if
  some point's interval lies above 0 and reaches +5 pp (a real gain of the paper's size); *inconclusive*
  otherwise.
- **A claim made of several parts** (each point, framework or comparison must hold): *holds* if every part
  holds at level {s.level} on its own (the claim is false as soon as one part is false, so this errs no more
  often than one part's test: no correction is needed); *does not hold* if some part does not hold after
  Holm's correction over the parts (each part's p-value against it, i.e. of the test that shows it does not
  hold, adjusted by Holm's step-down method, below {s.level}: the chance of wrongly failing any part stays
  below {s.level}); *inconclusive* otherwise. With one seed, or identical values, no test can be computed:
  *inconclusive*.
- **Power**: MDE is the smallest true effect the one-sided test detects with probability {s.power} at
  level {s.level}, given the seeds and the per-seed spread observed; "seeds for +{pct(s.reference_effect)} pp" is
  how many seeds would detect the paper's effect size with that spread. A row with MDE above the effect
  the paper reports cannot decide it: *inconclusive* there means "too few seeds", not "no effect".
- Correlations are reported over the grid means (what the paper's figures plot, like its ρ) and as the
  mean of the per-seed ρ; the paper states no p-values for them and none is invented.
"""


# ------------------------------------------------------------------------ verdict rules

@dataclass(frozen=True)
class Part:
    """One test of a claim: whether it holds on its own at the level, and the p-value of the
    test that would show it does not hold (p_against; None: no such test)."""
    label: str
    ours: str
    holds: bool
    p_against: float | None


def _below(p: float | None, level: float) -> bool:
    return p is not None and p < level


def _smaller(*ps: float | None) -> float | None:
    known = [p for p in ps if p is not None]
    return min(known) if known else None


def effect_part(label: str, t: dict, s: StatsParams, ours: str | None = None) -> Part:
    """A claimed positive effect, from mean_test over per-seed values: holds if significant;
    against it, the opposite effect or equivalence within the margin."""
    return Part(label, ours or f"{fmt_effect(t)}, CI {fmt_ci(t)}", _below(t["p_greater"], s.level),
                _smaller(t["p_less"], t["p_equivalent"]))


def absence_part(label: str, t: dict, s: StatsParams, ours: str | None = None) -> Part:
    """A claimed absence of a gain: holds if equivalent to none or significantly negative;
    against it, a significant gain."""
    return Part(label, ours or f"{fmt_effect(t)}, CI {fmt_ci(t)}",
                _below(t["p_equivalent"], s.level) or _below(t["p_less"], s.level), t["p_greater"])


def verdict_compound(parts: list[Part], s: StatsParams) -> tuple[str, tuple[Detail, ...]]:
    """A claim made of parts: holds if every part holds at the level (an intersection-union
    test); does not hold if some part's p against it, Holm-adjusted over the parts, is below
    the level; inconclusive otherwise. With one detail per part."""
    if not parts:
        return NOT_MEASURED, ()
    against = holm([p.p_against for p in parts])
    verdicts = [HOLDS if p.holds else FAILS if a < s.level else INCONCLUSIVE for p, a in zip(parts, against)]
    details = tuple(Detail(p.label, f"{p.ours}; against it, Holm-adjusted {fmt_p(a)}", v)
                    for p, a, v in zip(parts, against, verdicts))
    verdict = FAILS if FAILS in verdicts else HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE
    return verdict, details


def verdict_effect(t: dict, s: StatsParams) -> str:
    """A claimed positive effect (one part: Holm changes nothing)."""
    return verdict_compound([effect_part("", t, s)], s)[0]


def verdict_not_better(t: dict, s: StatsParams) -> str:
    """A claimed absence of a gain (one part)."""
    return verdict_compound([absence_part("", t, s)], s)[0]


def verdict_band(t: dict, lo: float, hi: float) -> str:
    ci = t["ci"]
    if ci is None:
        return INCONCLUSIVE
    if lo <= ci[0] and ci[1] <= hi:
        return HOLDS
    return FAILS if ci[1] < lo or ci[0] > hi else INCONCLUSIVE


# ------------------------------------------------------------------------ formatting

def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def pct_summary(s: dict) -> str:
    return f"{pct(s['mean'])} ± {pct(s['std'])} %"


def signed(x: float) -> str:
    """A fraction as signed percentage points; rounding noise never shows as -0.0."""
    return f"{round(100 * x, 1) + 0.0:+.1f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def fmt_effect(t: dict) -> str:
    """Mean ± std over seeds in pp, with the one-sided p of the claimed direction."""
    std = "n/a" if t["std"] is None else pct(t["std"])
    return f"{signed(t['mean'])} ± {std} pp, {fmt_p(t['p_greater'])}"


def fmt_ci(t: dict, scale: float = 100.0, unit: str = " pp") -> str:
    if t["ci"] is None:
        return "n/a"
    lo, hi = (scale * v for v in t["ci"])
    return f"[{lo + 0.0:+.1f}, {hi + 0.0:+.1f}]{unit}"


def confidence_label(confidence: float) -> str:
    """0.95 -> "95 % CI", 1 - 0.05 / 3 -> "98.3 % CI"."""
    return f"{100 * confidence:.1f}".removesuffix(".0") + " % CI"


def fmt_power(t: dict, s: StatsParams) -> str:
    if t["mde"] is None:
        return "n/a (one seed, or no spread)"
    need = seeds_needed(s.reference_effect, t["std"], s.level, s.power)
    return (f"MDE {pct(t['mde'])} pp (n = {t['n']}); "
            f"{'> 10000' if need is None else need} seeds for +{pct(s.reference_effect)} pp")


# ------------------------------------------------------------------------ claims

@dataclass(frozen=True)
class Detail:
    label: str
    ours: str
    verdict: str


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


def point_at(fig: dict, alpha: float) -> str | None:
    return next((label for label, p in fig["points"].items() if abs(float(p["alpha"]) - alpha) < 1e-9), None)


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


def loss_ratios(base: dict) -> list[float]:
    """L*_ASC / L*_AET per seed, pairing the two baselines' runs by seed."""
    asc, aet = base["raw"]["asc"], base["raw"]["aet"]
    l_aet = dict(zip(aet["seeds"], aet["loss_aet"]))
    return [la / l_aet[s] for s, la in zip(asc["seeds"], asc["loss_asc"]) if s in l_aet]


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


def eq3_alphas(base: dict) -> list[float]:
    """Eq. 3's alpha per seed, L*_ASC / (L*_ASC + L*_AET) = ratio / (1 + ratio)."""
    return [r / (1.0 + r) for r in loss_ratios(base)]


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


def rows_by_seed(fig: dict, metric: str, labels: list[str] | None = None) -> tuple[list, list[list[float]]]:
    """(seeds, rows): each row a seed's values over the points (in `labels` order), seeds that all have."""
    labels = labels or list(fig["raw"])
    tables = [dict(zip(fig["raw"][label]["seeds"], fig["raw"][label][metric])) for label in labels]
    seeds = [seed for seed in fig["raw"][labels[0]]["seeds"] if all(seed in t for t in tables)]
    return seeds, [[t[seed] for t in tables] for seed in seeds]


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


def _rho(xs, ys) -> float | None:
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def rho_over_means(fig: dict, metric: str) -> float | None:
    """Pearson ρ of the grid points' mean values against x: what the paper's figures show."""
    points = sorted(fig["raw"].values(), key=lambda p: float(p["x"]))
    if any(v is None for p in points for v in p[metric]):
        return None
    return _rho([float(p["x"]) for p in points], [float(np.mean(p[metric])) for p in points])


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
    rho_means = _rho(xs, means)
    rhos = [r for r in (_rho(xs, row) for row in rows) if r is not None]
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


# ------------------------------------------------------------------------ the document

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


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def _settings(metrics: dict) -> list[tuple]:
    """Distinct (world, seeds, epochs) over the figure files that exist."""
    seen = {}
    for name in FIGURE_FILES:
        m = metrics.get(name)
        if m is not None:
            seen.setdefault((m["world"], tuple(m["seeds"]), m["epochs"]), []).append(name)
    return list(seen.items())


def provenance(metrics: dict, digests: dict, folder_label: str) -> list[str]:
    settings = _settings(metrics)
    lines = []
    if not settings:
        lines.append("No figure metrics found: every claim is not measured.")
    for (world, seeds, epochs), names in settings:
        scope = "" if len(settings) == 1 else f" ({', '.join(names)})"
        lines.append(f"Numbers from the **{world}** world{scope}: {len(seeds)} seeds "
                     f"({', '.join(map(str, seeds))}), {epochs} epochs per run; ± is the standard deviation "
                     "over seeds, pp = percentage points.")
    if len(settings) > 1:
        lines.append("**The metrics files disagree on world, seeds or epochs**: compare rows with care.")
    if any(world == "synthetic" for (world, _, _), _ in settings):
        lines.append("The synthetic world is procedural: these numbers test the pipeline, not the paper's "
                     "data (TUT Urban Acoustic Scenes 2018 + AudioSet); a verdict here says nothing about "
                     "the paper.")
    lines.append("")
    lines.append(f"Metrics files (in `{folder_label}`, sha256 prefix): "
                 + ", ".join(f"`{n}.json` {digests[n]}" for n in FILES if n in digests)
                 + "; missing: " + (", ".join(f"`{n}.json`" for n in FILES if n not in digests) or "none") + ".")
    alphas = sorted({float(p["alpha"]) for name in ("fig3a", "fig3b", "fig4") if metrics.get(name)
                     for p in metrics[name]["points"].values()})
    if alphas:
        lines.append(f"Figs 3a, 3b and 4 train jointly at α = {', '.join(f'{a:.3f}' for a in alphas)} (paper: 0.95).")
    base = metrics.get("baselines")
    if base is not None:
        lines.append(f"ASC baseline accuracy {pct_summary(base['points']['asc']['asc_accuracy'])} "
                     f"(paper: 68 %); AET baseline lwlrap {pct_summary(base['points']['aet']['lwlrap'])}.")
    return lines


def ranking_lines(ranking: dict | None) -> list[str]:
    if ranking is None:
        return ["Event ranking: not measured (`ranking.json` missing)."]
    if ranking.get("tagger_lwlrap") is None:
        tagger = f"supplied checkpoint `{ranking.get('tagger')}` (no lwlrap measured)"
    else:
        tagger = (f"{ranking['tagger']}, lwlrap {pct(ranking['tagger_lwlrap'])} % on its held-out part "
                  f"({ranking.get('tagger_clips')} clips in the pool)")
    lines = [f"Event ranking of {ranking['classes']} event classes by a tagger scoring "
             f"{ranking.get('scored_clips')} ASC training clips. Tagger: {tagger}."]
    if "precision_at_scene_events" in ranking:
        n = ranking["scene_events"]
        lines.append(f"Against the synthetic ground truth ({n} events occur in scenes): precision of the top {n} "
                     f"{pct(ranking['precision_at_scene_events'])} %; the {ranking['below_last_scene_event']} "
                     f"lowest-ranked classes hold no scene event (the uncorrelated strategy draws its k from "
                     f"the bottom).")
    return lines


def loss_scale_by_k(metrics: dict) -> list[tuple[int, float, float]]:
    """Per k of Fig. 4: (k, L_AET at the last epoch, Eq. 3's alpha with the ASC baseline's
    L*_ASC), means over seeds. L_AET is the BCE averaged over the k classes, so it shrinks
    roughly as 1/k and a fixed alpha weights AET less at larger k."""
    fig, base = metrics.get("fig4"), metrics.get("baselines")
    if fig is None or base is None:
        return []
    l_asc = float(np.mean(base["raw"]["asc"]["loss_asc"]))
    out = []
    for p in fig["raw"].values():
        if p.get("loss_aet") and all(v is not None for v in p["loss_aet"]):
            l_aet = float(np.mean(p["loss_aet"]))
            out.append((int(p["x"]), l_aet, l_asc / (l_asc + l_aet)))
    return out


def loss_scale_lines(metrics: dict) -> list[str]:
    rows = loss_scale_by_k(metrics)
    if not rows:
        return []
    return ["## The scale of L_AET with k (Fig. 4)", "",
            "L_AET is the binary cross-entropy averaged over the k classes (and clips), so it shrinks "
            "roughly as 1/k; Figs 3a-5 keep one α for every k, as the paper does. Eq. 3's α per k below uses "
            "the last-epoch L_AET of each k's joint runs (not an AET-only baseline per k) with the ASC "
            "baseline's L\\*_ASC:", "",
            *_table(["k", "L_AET (mean over seeds)", "k × L_AET", "Eq. 3's α at this k"],
                    [[str(k), f"{l:.4f}", f"{k * l:.3f}", f"{a:.3f}"] for k, l, a in rows]), ""]


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


def budget_lines(metrics: dict) -> list[str]:
    """The learning-curve study (budget.json) and whether the world's budget is at its plateau."""
    study = metrics.get("budget")
    lines = ["## Training budget", ""]
    epochs = next((m["epochs"] for name in FIGURE_FILES if (m := metrics.get(name))), None)
    if study is None:
        return lines + ["The learning-curve study has not run (`budget.json` missing): the budget of "
                        f"{epochs} epochs is not shown to converge.", ""]
    budgets, tol = study["budgets"], study["tolerance"]
    lines.append(f"Each kind of run, on Fig. 2's event set, trained for {budgets[-1]} epochs and evaluated "
                 f"in full after {', '.join(map(str, budgets[:-1]))} epochs too ({len(study['seeds'])} seeds; "
                 "the learning rate does not depend on the budget, so a run evaluated after e epochs is a run "
                 "of e epochs; pre-training + fine-tuning: one pair of runs per budget, half of it each). "
                 f"**Criterion**: a budget is at the plateau when doubling it from its half added less than "
                 f"{pct(tol)} pp to the ASC accuracy of every kind of run scored on scenes (mean over seeds) and "
                 f"moved Eq. 3's α, from the asc and aet runs' losses, by less than {tol:g}. The AET baseline "
                 "enters the scene runs only through that α; its lwlrap is shown, not part of the criterion, "
                 "and a claim that reads lwlrap waits for its own points (\"Convergence per figure\").")
    lines.append("")
    header = ["Run"] + [f"{b} ep." for b in budgets]
    rows = []
    for label, arm in study["arms"].items():
        metric = arm["metric"]
        cells = [f"{pct_summary(study['points'][f'{label} @{b}'][metric])}" for b in budgets]
        rows.append([f"{label} ({'lwlrap' if metric == 'lwlrap' else 'ASC accuracy'}, %)"] + cells)
        gating = metric == "asc_accuracy"
        rows.append([f"{label}: added by doubling (pp{'' if gating else '; not in the criterion'})", "—"] +
                    [f"{signed(arm['rise'][str(b)]['mean'])}"
                     + ("" if not gating or arm["rise"][str(b)]["mean"] < tol else " ▲") for b in budgets[1:]])
    if "eq3_alpha" in study:
        alpha = [study["eq3_alpha"][str(b)] for b in budgets]
        rows.append(["Eq. 3's α"] + [f"{a:.3f}" for a in alpha])
        rows.append(["Eq. 3's α: moved by doubling", "—"] +
                    [f"{b - a:+.3f}" + ("" if abs(b - a) < tol else " ▲") for a, b in zip(alpha, alpha[1:])])
    for loss in ("loss_asc", "loss_aet"):
        for label in study["arms"]:
            if all(loss in study["points"][f"{label} @{b}"] for b in budgets):
                rows.append([f"{label}: training {dict(loss_asc='L_ASC', loss_aet='L_AET')[loss]}"] +
                            [f"{study['points'][f'{label} @{b}'][loss]['mean']:.3f}" for b in budgets])
    lines += _table(header, rows) + [""]
    plateau = study["plateau_epochs"]
    if plateau is None:
        verdict = (f"no budget of the study meets the criterion (▲: at or above the tolerance): the runs have "
                   f"not converged by {budgets[-1]} epochs; the figures' {epochs} epochs are not shown to converge.")
    elif epochs is not None and epochs >= plateau:
        verdict = f"the plateau is at **{plateau} epochs**; the figures train for {epochs}: at or past it."
    else:
        verdict = (f"the plateau is at **{plateau} epochs**, but the figures train for {epochs}: **below the "
                   "plateau**; set the world's `epochs` to it.")
    return lines + ["Study: " + verdict, ""]


def convergence_lines(metrics: dict) -> list[str]:
    """Per figure: did its own runs meet the criterion from half the budget to the budget?"""
    rows = []
    for name in FIGURE_FILES:
        conv = (metrics.get(name) or {}).get("convergence")
        if conv is None:
            continue
        points = conv["points"]
        rise = {label: p["rises"][p["metric"]] for label, p in points.items()}
        worst_label = max(rise, key=rise.get)
        late = [label for label, p in points.items() if not p["converged"]]
        rows.append([name, "yes" if conv["converged"] else "**no**", f"{len(points) - len(late)} of {len(points)}",
                     f"{signed(rise[worst_label])} pp ({worst_label})", ", ".join(late) or "—"])
        tol, frm, to = conv["tolerance"], conv["from_epochs"], conv["to_epochs"]
    if not rows:
        return []
    alpha = ((metrics.get("baselines") or {}).get("convergence") or {}).get("eq3_alpha")
    alpha_line = ([] if alpha is None else
                  [f"Eq. 3's α from the baselines' losses: {alpha['from']:.3f} at epoch {frm}, {alpha['to']:.3f} at "
                   f"epoch {to} (moved {alpha['change']:+.3f}): "
                   + ("converged." if alpha["converged"] else f"**not converged** (moved {tol:g} or more)."), ""])
    return ["## Convergence per figure", "",
            f"A figure's point has converged when its mean (over seeds) ASC accuracy (AET-only: lwlrap) rose by "
            f"less than {pct(tol)} pp from epoch {frm} to epoch {to} of its own runs. A claim is decided only when "
            "every quantity it reads has converged: the ASC accuracy (or, where it tests tagging, the lwlrap) of "
            "the points it tests, the ASC baseline's accuracy where it tests a gain over it, and Eq. 3's α where "
            f"its points trained at that α (α must move by less than {tol:g}); otherwise it is not decided "
            "(*inconclusive*, the verdict its numbers would give in \"Ours\"; the \"Converged\" column names "
            "what did not converge). \"At half budget\" in the claims table is each claim evaluated on the same "
            f"runs after {frm} epochs, before the convergence rule (the verdict those numbers would give), and a "
            "claim is **fragile** when it differs from the full budget's verdict before the same rule (\"would "
            "be\" in \"Ours\" where the rule held the claim back).", "",
            *_table(["Figure", "Converged", "Points converged", "Largest rise", "Not converged"], rows), "",
            *alpha_line]


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


def interval_cell(o: Outcome, s: StatsParams) -> str:
    """The outcome's interval, naming its confidence level where it is not the column's."""
    if o.confidence is None or confidence_label(o.confidence) == confidence_label(1 - s.level):
        return o.interval
    return f"{confidence_label(o.confidence)}: {o.interval}"


def claim_columns(s: StatsParams) -> list[tuple[str, Callable[[Claim, Outcome], str]]]:
    """The claims table: (header, cell of a claim's row). A new column is one more entry here
    (with, if it needs more than the outcome holds, a field of Outcome set in `evaluate`)."""
    return [("#", lambda c, o: c.number), ("Claim", lambda c, o: c.text), ("Where", lambda c, o: c.source),
            ("Paper", lambda c, o: c.paper), ("Ours", lambda c, o: o.ours),
            ("Verdict", lambda c, o: f"**{o.verdict}**"),
            ("Converged", lambda c, o: o.converged), ("At half budget", lambda c, o: o.at_half_budget),
            (confidence_label(1 - s.level), lambda c, o: interval_cell(o, s)),
            ("Power", lambda c, o: o.power), ("Test", lambda c, o: o.test)]


def render(metrics: dict, digests: dict, stats: StatsParams, outcomes: list[tuple[Claim, Outcome]],
           folder_label: str = "metrics") -> str:
    lines = ["# Claims of Parikh et al. (Interspeech 2022) against our measurements", ""]
    lines += provenance(metrics, digests, folder_label) + [""]
    lines += ranking_lines(metrics.get("ranking")) + [""]
    lines += ["## Claims", ""]
    columns = claim_columns(stats)
    lines += _table([header for header, _ in columns], [[cell(c, o) for _, cell in columns] for c, o in outcomes])
    counts = {v: sum(o.verdict == v for _, o in outcomes) for v in (HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED)}
    fragile = [c.number for c, o in outcomes if is_fragile(o)]
    unconverged = [c.number for c, o in outcomes if o.converged.startswith("no")]
    lines += ["", "Summary: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + "; "
              + (f"fragile (another verdict at half the budget): claims {', '.join(fragile)}" if fragile
                 else "no verdict changes at half the budget")
              + "; " + (f"on runs not converged: claims {', '.join(unconverged)}" if unconverged
                        else "every decided claim rests on converged runs") + ".", ""]
    lines += budget_lines(metrics)
    lines += convergence_lines(metrics)
    lines += loss_scale_lines(metrics)
    lines += ["## Verdict rules", "", rules(stats).rstrip(), ""]
    detailed = [(c, o) for c, o in outcomes if o.details]
    if detailed:
        lines += ["## Details", ""]
        for c, o in detailed:
            lines += [f"### Claim {c.number}: {c.text} ({c.source})", ""]
            lines += _table(["Point", "Ours", "Verdict"], [[d.label, d.ours, d.verdict] for d in o.details])
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
