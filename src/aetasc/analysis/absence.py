"""The claims of an absence: "does not translate to", "not sensitive to", "uncorrelated with",
"weak" and "marginal" (claims 4, 6, 10 and 18), by the rules of aetasc.analysis.rules.

An absence is refuted by a difference shown beyond the equivalence margin, never by a
significant one inside it, and it holds only when the two one-sided tests put the
difference inside the margin. Each outcome shows the power of that route to *holds* when
the true difference is none, and the seeds it would need: with few seeds an absence can be
true and still read *inconclusive*.
"""
from __future__ import annotations

import itertools

import numpy as np

from aetasc.config import StatsParams
from aetasc.analysis.format import (confidence_label, fmt_ci, fmt_effect, fmt_equivalence_power, fmt_p, paired_values,
                                    point_at, rho, rows_by_seed, signed)
from aetasc.analysis.rules import (FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURED, Detail, Outcome, effect_part,
                                   equivalence_part, margin_tests, no_gain_part, per_seed_test, verdict_compound)
from aetasc.stats import mean_test, rm_anova, trend_per_seed


def tagging_is_not_scene(m: dict, s: StatsParams) -> Outcome:
    """Claim 4: lwlrap at α = 0.5 far above α = 0 (an effect), and that gain in tagging not
    followed by a scene gain (an absence: the ASC gain at 0.5 shown below +margin)."""
    fig = m["fig2"]
    half, zero = point_at(fig, 0.5), point_at(fig, 0.0)
    if half is None or zero is None:
        return Outcome("—", NOT_MEASURED, "the α grid lacks 0 or 0.5")
    raw_half, raw_zero = fig["raw"][half], fig["raw"][zero]
    if None in raw_half["lwlrap"] + raw_zero["lwlrap"]:
        return Outcome("—", NOT_MEASURED, "no lwlrap at α = 0 or 0.5")
    tagging = per_seed_test(paired_values(raw_half["seeds"], raw_half["lwlrap"], raw_zero["seeds"], raw_zero["lwlrap"]), s)
    scene = per_seed_test(fig["points"][half]["gain"]["per_seed"], s)
    above = margin_tests(scene, s.equivalence_margin)["p_above_margin"]
    verdict, details = verdict_compound(
        [effect_part("lwlrap(0.5) > lwlrap(0)", tagging, s),
         no_gain_part("ASC gain at α = 0.5 below the margin", scene, s,
                      f"{fmt_effect(scene)}, CI {fmt_ci(scene)}, beyond +{pct_margin(s)} pp {fmt_p(above)}")], s)
    return Outcome(f"lwlrap {signed(tagging['mean'])} pp from α = 0 to 0.5 ({fmt_p(tagging['p_greater'])}); "
                   f"ASC gain at α = 0.5: {fmt_effect(scene)}; gain beyond +{pct_margin(s)} pp: {fmt_p(above)}",
                   verdict,
                   "holds if lwlrap(0.5) > lwlrap(0) (an effect) and the ASC gain at α = 0.5 is shown below "
                   f"+{pct_margin(s)} pp (an absence); does not hold if a part fails after Holm: no lwlrap gain, "
                   f"or an ASC gain shown beyond +{pct_margin(s)} pp. A claim of 2 parts; the interval and power "
                   "are the ASC gain's",
                   fmt_ci(scene), fmt_equivalence_power(scene, s, one_sided=True), details)


def pct_margin(s: StatsParams) -> str:
    return f"{100 * s.equivalence_margin:.1f}"


def _pairwise_absence(labels: list[str], rows: list[list[float]], s: StatsParams):
    """Every pair of conditions (paired by seed) equivalent within the margin, at the level
    Bonferroni-corrected over the pairs: (verdict, tests by pair, level). Does not hold as
    soon as one pair is shown beyond the margin at that level; holds when every pair is
    shown inside it."""
    pairs = list(itertools.combinations(range(len(labels)), 2))
    level = s.level / max(1, len(pairs))
    tests = {(labels[i], labels[j]): mean_test([r[i] - r[j] for r in rows], level=level,
                                               margin=s.equivalence_margin, power=s.power)
             for i, j in pairs}
    parts = {pair: equivalence_part(" - ".join(pair), t, s, level=level) for pair, t in tests.items()}
    if all(p.holds for p in parts.values()):
        verdict = HOLDS
    elif any(p.p_against is not None and p.p_against < level for p in parts.values()):
        verdict = FAILS
    else:
        verdict = INCONCLUSIVE
    return verdict, tests, parts, level


def no_strategy_dependence(m: dict, s: StatsParams) -> Outcome:
    """Claim 6: ASC accuracy the same, within the margin, whichever strategy chose the events."""
    labels = list(m["fig3a"]["raw"])
    _, rows = rows_by_seed(m["fig3a"], "asc_accuracy", labels)
    if len(labels) < 2 or len(rows) < 2:
        return Outcome("—", NOT_MEASURED, "fewer than 2 strategies or seeds")
    verdict, tests, parts, level = _pairwise_absence(labels, rows, s)
    anova = rm_anova(rows)
    f = ("F undefined" if anova["F"] is None else
         f"F = {anova['F']:.2f}, Greenhouse-Geisser {fmt_p(anova['gg_p_value'])}")
    widest = max(tests.values(), key=lambda t: abs(t["mean"]))
    spread = max(tests.values(), key=lambda t: t["std"] or 0.0)
    conf = confidence_label(1 - level)
    details = tuple(Detail(f"{a} - {b}", f"{signed(t['mean'])} pp, {conf} {fmt_ci(t)}, equivalence "
                                         f"{fmt_p(t['p_equivalent'])}, beyond ±{pct_margin(s)} pp "
                                         f"{fmt_p(parts[(a, b)].p_against)}",
                           HOLDS if parts[(a, b)].holds else
                           FAILS if parts[(a, b)].p_against is not None and parts[(a, b)].p_against < level
                           else INCONCLUSIVE)
                    for (a, b), t in tests.items())
    return Outcome(f"largest pairwise difference {signed(widest['mean'])} pp; repeated-measures ANOVA {f} "
                   "(shown, not deciding)", verdict,
                   f"every pair of the {len(labels)} strategies, paired by seed, at level {level:.4f} "
                   f"(Bonferroni over {len(tests)} pairs): holds if every pair is equivalent within "
                   f"±{pct_margin(s)} pp (two one-sided tests); does not hold if some pair is shown beyond "
                   f"±{pct_margin(s)} pp", f"largest pair {fmt_ci(widest)}",
                   fmt_equivalence_power(spread, s, level) + " (the pair of widest spread)", details,
                   confidence=1 - level)


def insensitive_to_k(m: dict, s: StatsParams) -> Outcome:
    """Claim 10, "weak" read as an effect size: each seed's fitted change of ASC accuracy
    across the k grid lies within ±margin (an absence, two one-sided tests), the size the
    paper calls a marginal influence and, in its abstract, no sensitivity."""
    fig = m["fig4"]
    labels = sorted(fig["raw"], key=lambda label: float(fig["raw"][label]["x"]))
    if len(labels) < 2:
        return Outcome("—", NOT_MEASURED, "fewer than 2 values of k")
    xs = [float(fig["raw"][label]["x"]) for label in labels]
    _, rows = rows_by_seed(fig, "asc_accuracy", labels)
    t = per_seed_test(trend_per_seed(xs, rows), s)
    part = equivalence_part("change across the k grid", t, s)
    verdict = HOLDS if part.holds else FAILS if part.p_against is not None and part.p_against < s.level \
        else INCONCLUSIVE
    rho_means = rho(xs, np.mean(rows, axis=0))
    return Outcome(f"change across the grid {signed(t['mean'])} ± {pct_std(t)} pp, equivalence "
                   f"{fmt_p(t['p_equivalent'])}, beyond ±{pct_margin(s)} pp {fmt_p(part.p_against)}; ρ over grid "
                   f"means {'n/a' if rho_means is None else f'{rho_means:.2f}'}", verdict,
                   f"each seed's fitted change of ASC accuracy across k = {', '.join(f'{x:g}' for x in xs)} "
                   f"(slope × range, n = {len(rows)} seeds): holds if equivalent within ±{pct_margin(s)} pp "
                   f"(weak: the margin of no effect); does not hold if shown beyond ±{pct_margin(s)} pp. Each k "
                   "is its own event set, so k is confounded with which events a set holds",
                   fmt_ci(t), fmt_equivalence_power(t, s))


def pct_std(t: dict) -> str:
    return "n/a" if t["std"] is None else f"{100 * t['std']:.1f}"


# Figures whose points share one AET task (the events and the classes to tag), so that a
# lwlrap difference between two points is an AET improvement "with AET and ASC tasks fixed".
SAME_TASK_FIGURES = ("fig2", "fig3b", "sec41")


def aet_gain_is_not_asc_gain(m: dict, s: StatsParams) -> Outcome:
    """The paper's first finding: "performance improvements in AET task are not in general
    correlated with improvements in ASC task ... the performance improvement in AET does not
    guarantee performance improvement in ASC". Over every pair of points of a figure that
    keeps the AET task fixed, with both heads trained (0 <= α < 1), ordered so that lwlrap
    rises: holds if some pair with an AET gain shown has its ASC gain shown below +margin
    (Bonferroni over the pairs: "some" is tested over all of them); does not hold if every
    pair whose AET gain is shown has its ASC gain shown too (each at the level: all must);
    inconclusive otherwise."""
    pairs = []
    for name in SAME_TASK_FIGURES:
        fig = m.get(name)
        if not fig:
            continue
        labels = [label for label, p in fig["raw"].items() if float(p["alpha"]) < 1.0
                  and all(v is not None for v in p["lwlrap"] + p["asc_accuracy"])]
        for a, b in itertools.combinations(labels, 2):
            pa, pb = fig["raw"][a], fig["raw"][b]
            aet = paired_values(pb["seeds"], pb["lwlrap"], pa["seeds"], pa["lwlrap"])
            if np.mean(aet) < 0:
                a, b, pa, pb, aet = b, a, pb, pa, [-v for v in aet]
            asc = paired_values(pb["seeds"], pb["asc_accuracy"], pa["seeds"], pa["asc_accuracy"])
            pairs.append((f"{name} {a} → {b}", aet, asc))
    if not pairs:
        return Outcome("—", NOT_MEASURED, "no figure with two points of one AET task")
    level = s.level / len(pairs)
    rows, shown_gain, followed, not_followed = [], 0, 0, []
    def shown(p: float | None, at: float) -> bool:
        return p is not None and p < at

    for label, aet, asc in pairs:
        ta, tc = per_seed_test(aet, s), per_seed_test(asc, s)
        aet_shown, asc_shown = shown(ta["p_greater"], s.level), shown(tc["p_greater"], s.level)
        below = margin_tests(tc, s.equivalence_margin)["p_below_margin"]
        if aet_shown:
            shown_gain += 1
            followed += asc_shown
            if shown(below, level) and shown(ta["p_greater"], level):
                not_followed.append(label)
        rows.append(Detail(label, f"lwlrap {signed(ta['mean'])} pp ({fmt_p(ta['p_greater'])}); ASC "
                                  f"{fmt_effect(tc)}, below +{pct_margin(s)} pp {fmt_p(below)}",
                           "AET gain, no ASC gain" if label in not_followed else
                           "AET gain, ASC gain" if aet_shown and asc_shown else
                           "AET gain, ASC undecided" if aet_shown else "no AET gain shown"))
    if not_followed:
        verdict = HOLDS
    elif shown_gain and followed == shown_gain:
        verdict = FAILS
    else:
        verdict = INCONCLUSIVE
    lw = [np.mean(aet) for _, aet, _ in pairs]
    sc = [np.mean(asc) for _, _, asc in pairs]
    r = rho(lw, sc)
    return Outcome(f"{shown_gain} of {len(pairs)} pairs gain in lwlrap; ASC gain shown in {followed} of them, "
                   f"shown below +{pct_margin(s)} pp in {len(not_followed)}; ρ of the pairs' mean lwlrap and ASC "
                   f"gains {'n/a' if r is None else f'{r:.2f}'}", verdict,
                   f"every pair of points of one AET task ({', '.join(SAME_TASK_FIGURES)}; 0 ≤ α < 1), ordered "
                   "by lwlrap, paired by seed: holds if some pair with a lwlrap gain has its ASC gain shown below "
                   f"+{pct_margin(s)} pp (level {level:.4f}, Bonferroni over {len(pairs)} pairs); does not hold if "
                   f"every lwlrap gain shown (level {s.level}) comes with an ASC gain shown", "—",
                   "—", tuple(rows))
