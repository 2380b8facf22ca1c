"""The verdict rules: how a claim's tests on per-seed values become holds, does not hold or
inconclusive.

A claim of an effect *does not hold* when the opposite effect is significant or when the
effect is shown to be smaller than the equivalence margin; a claim of no effect (or of a
"weak", "marginal" one) *holds* only when equivalence is shown, and *does not hold* only when
a difference beyond the margin is shown: a difference inside it is what the claim allows. A
claim of several parts holds when each part does, and fails when one part fails after Holm's
correction over the parts. The report's "Verdict rules" section
states these rules in words (report.verdict_rules_text).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from aetasc.config import StatsParams
from aetasc.analysis.format import fmt_ci, fmt_effect, fmt_p
from aetasc.stats import holm, mean_test

HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED = "holds", "does not hold", "inconclusive", "not measured"
# a claim whose number this world's loss floors put out of reach: neither true nor false here
UNREACHABLE = "unreachable here"


@dataclass(frozen=True)
class Detail:
    """One row of a claim's details: a part, a grid point or a pair, with its own verdict."""
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
    converged: str = "—"                # did the runs it rests on converge (claims.evaluate_all)
    at_half_budget: str = "—"           # the verdict on the same runs at half the budget


def per_seed_test(values, s: StatsParams, level: float | None = None) -> dict:
    """mean_test at the report's level (or the one given: a Bonferroni-corrected one), margin
    and power."""
    return mean_test(values, level=s.level if level is None else level, margin=s.equivalence_margin,
                     power=s.power)


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


def p_beyond(t: dict, shift: float) -> tuple[float | None, float | None]:
    """One-sided t-test p-values of mean > shift and of mean < shift, from mean_test's n,
    mean and std (None without a spread: mean_test's certain tests cover that case)."""
    if t["std"] is None or not t["std"] > 0:
        return None, None
    se, df = t["std"] / math.sqrt(t["n"]), t["n"] - 1
    z = (t["mean"] - shift) / se
    return float(stats.t.sf(z, df)), float(stats.t.cdf(z, df))


def margin_tests(t: dict, margin: float) -> dict:
    """The tests an absence is decided by: mean shown below +margin (p_below_margin), above
    -margin, beyond +margin (p_above_margin) or beyond -margin (p_below_minus_margin)."""
    if t["std"] is not None and not t["std"] > 0:        # identical values: certain
        m = t["mean"]
        return {"p_below_margin": float(m >= margin), "p_above_margin": float(m <= margin),
                "p_above_minus_margin": float(m <= -margin), "p_below_minus_margin": float(m >= -margin)}
    above, below = p_beyond(t, margin)
    above_minus, below_minus = p_beyond(t, -margin)
    return {"p_below_margin": below, "p_above_margin": above,
            "p_above_minus_margin": above_minus, "p_below_minus_margin": below_minus}


def no_gain_part(label: str, t: dict, s: StatsParams, ours: str | None = None, level: float | None = None) -> Part:
    """A claimed absence of a gain ("does not translate to improved ..."): holds if the gain is
    shown below +margin (non-superiority); against it, a gain shown beyond +margin. A gain
    inside the margin is what the claim allows, so it never counts against it."""
    level = s.level if level is None else level
    mt = margin_tests(t, s.equivalence_margin)
    return Part(label, ours or f"{fmt_effect(t)}, CI {fmt_ci(t)}", _below(mt["p_below_margin"], level),
                mt["p_above_margin"])


def equivalence_part(label: str, t: dict, s: StatsParams, ours: str | None = None,
                     level: float | None = None) -> Part:
    """A claimed absence of any difference: holds if the two one-sided tests show it within
    +-margin; against it, a difference shown beyond the margin on either side."""
    level = s.level if level is None else level
    mt = margin_tests(t, s.equivalence_margin)
    return Part(label, ours or f"{fmt_effect(t)}, CI {fmt_ci(t)}", _below(t["p_equivalent"], level),
                _smaller(mt["p_above_margin"], mt["p_below_minus_margin"]))


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


def verdict_band(t: dict, lo: float, hi: float) -> str:
    """A band around the paper's number ("approximately equals"): holds if the confidence
    interval lies inside [lo, hi], does not hold if it lies outside."""
    ci = t["ci"]
    if ci is None:
        return INCONCLUSIVE
    if lo <= ci[0] and ci[1] <= hi:
        return HOLDS
    return FAILS if ci[1] < lo or ci[0] > hi else INCONCLUSIVE
