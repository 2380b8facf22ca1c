"""The verdict rules: how a claim's tests on per-seed values become holds, does not hold or
inconclusive.

A claim of an effect *does not hold* when the opposite effect is significant or when the
effect is shown to be smaller than the equivalence margin; a claim of no effect *holds* only
when equivalence is shown. A claim of several parts holds when each part does, and fails when
one part fails after Holm's correction over the parts. The report's "Verdict rules" section
states these rules in words (report.verdict_rules_text).
"""
from __future__ import annotations

from dataclasses import dataclass

from aetasc.config import StatsParams
from aetasc.analysis.format import fmt_ci, fmt_effect, fmt_p
from aetasc.stats import holm

HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED = "holds", "does not hold", "inconclusive", "not measured"


@dataclass(frozen=True)
class Detail:
    """One row of a claim's details: a part, a grid point or a pair, with its own verdict."""
    label: str
    ours: str
    verdict: str


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


def verdict_band(t: dict, lo: float, hi: float) -> str:
    """A band around the paper's number ("approximately equals"): holds if the confidence
    interval lies inside [lo, hi], does not hold if it lies outside."""
    ci = t["ci"]
    if ci is None:
        return INCONCLUSIVE
    if lo <= ci[0] and ci[1] <= hi:
        return HOLDS
    return FAILS if ci[1] < lo or ci[0] > hi else INCONCLUSIVE
