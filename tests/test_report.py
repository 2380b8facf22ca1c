"""The claims report: each verdict rule on crafted metrics, and the stage end to end.

Metrics are fabricated with the training stages' own aggregation (experiments.aggregate)
from made-up per-seed values, so they have exactly the structure the stages write.
"""
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from aetasc.config import parse_params
from aetasc.experiments.aggregate import aggregate, aggregate_study, convergence
from aetasc.experiments.grid import budgets_of, figure_points, resolve_alpha
from aetasc.io import write_json
from aetasc.analysis.claims import (CLAIMS, distinct_joint_points, evaluate, evaluate_all, is_fragile, load_metrics,
                                   with_eq3_alpha)
from aetasc.analysis.report import budget_lines, render
from aetasc.analysis.rules import (FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURED, UNREACHABLE, Part, margin_tests,
                                   no_gain_part, verdict_band,
                                   verdict_compound, verdict_effect)
from aetasc.stats import mean_test, rm_anova
from conftest import run_stage, tiny_raw_params

STATS = parse_params(tiny_raw_params()).stats          # level 0.05, margin 2 pp, power 0.8

BASE = [0.60, 0.62, 0.61, 0.63]       # ASC baseline accuracy per seed
GAIN = [0.03, 0.04, 0.035, 0.045]     # a clear, consistent gain
FIGURES = ("fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41")
RANKING = {"world": "synthetic", "classes": 8, "tagger": "trained on the ranking pool", "tagger_lwlrap": 0.53,
           "tagger_clips": 48, "scored_clips": 36, "scene_events": 4, "precision_at_scene_events": 0.75,
           "below_last_scene_event": 12}


def make_params(alphas=(0.0, 0.5, 0.8, 0.9, 0.95, 1.0), ks=(2, 4, 6)):
    raw = tiny_raw_params()
    world = raw["worlds"]["synthetic"]
    world["seeds"] = [0, 1, 2, 3]
    world["convergence"].update(study_epochs=[2, 4, 8, 16], study_seeds=4)
    world["figures"]["fig2"]["alphas"] = list(alphas)
    world["figures"]["fig3b"]["hours"] = [0.01, 0.02, 0.04]
    world["figures"]["fig4"]["ks"] = list(ks)
    world["figures"]["sec41"].update(hours=[0.01, 0.04], alphas=[0.5, 0.9])
    return parse_params(raw)


def plus(a, b, scale=1.0):
    return [x + scale * y for x, y in zip(a, b)]


def _results(figure, params, acc, lwlrap, losses, baselines=None):
    """(run, result) pairs as the training stages produce them, one per point and seed."""
    out = []
    for point in figure_points(figure, params):
        if point.baseline and figure != "baselines":
            continue
        alpha = 0.0 if point.pretrain else resolve_alpha(point, params, baselines)
        for i, seed in enumerate(params.active.seeds):
            accuracy = acc.get(point.label, BASE if alpha == 0 and not point.pretrain else plus(BASE, GAIN))
            tagging = lwlrap.get(point.label, [0.1 + 0.7 * alpha + 0.01 * j for j in range(4)])
            result = {"asc_accuracy": accuracy[i],
                      "lwlrap": tagging[i] if point.events else None,
                      "loss_asc": losses["asc"][i] if alpha < 1 else None,
                      "loss_aet": losses["aet"][i] if alpha > 0 and point.events else None}
            out.append((SimpleNamespace(point=point, seed=seed, spec=SimpleNamespace(alpha=alpha)), result))
    return out


def _figure(fig, params, acc, lwlrap, losses, half_acc, baselines):
    """A figure's metrics as its stage writes them: the budget's, and half of it (`half_acc`:
    {label: per seed} at half the budget; by default the same values, i.e. converged)."""
    full = aggregate(fig, params, _results(fig, params, acc, lwlrap, losses, baselines), baselines)
    half = aggregate(fig, params, _results(fig, params, {**acc, **half_acc}, lwlrap, losses, baselines),
                     baselines and baselines["half_budget"])
    half["epochs"] = params.active.epochs // 2
    full["half_budget"] = half
    full["convergence"] = convergence(half, full, params.active.convergence.tolerance)
    return full


def fabricate_budget(params, acc=None, loss_asc=None) -> dict:
    """budget.json as the study's stage writes it; acc: {(arm label, budget): per seed}; by
    default every arm gains 4 pp per doubling up to 8 epochs, nothing after; its losses are
    1 / b (L_ASC; `loss_asc`: {(arm label, budget): value}) and 0.1 / b (L_AET)."""
    acc, loss_asc = acc or {}, loss_asc or {}
    by_budget = {}
    for b in budgets_of("budget", params):
        rows = []
        for point in figure_points("budget", params):
            alpha = {"eq3": 0.8}.get(point.alpha, point.alpha)
            for i, seed in enumerate(params.active.seeds[:params.active.convergence.study_seeds]):
                base = 0.5 + 0.04 * min(b, 8).bit_length() + 0.001 * i
                value = acc.get((point.label, b), [base] * 4)[i]
                rows.append((SimpleNamespace(point=point, seed=seed, spec=SimpleNamespace(alpha=alpha)),
                             {"asc_accuracy": value if alpha < 1 else None, "lwlrap": value if alpha > 0 else None,
                              "loss_asc": loss_asc.get((point.label, b), 1.0 / b) if alpha < 1 else None,
                              "loss_aet": 0.1 / b if alpha > 0 else None}))
        by_budget[b] = rows
    return aggregate_study(params, by_budget)


def fabricate(folder=None, params=None, acc=None, lwlrap=None, losses=None, skip=(), half_acc=None) -> dict:
    """Metrics of every figure (and ranking.json, budget.json); acc / lwlrap / half_acc:
    {figure: {label: per seed}}.

    Unless overridden, joint points gain GAIN over the baseline, lwlrap grows with alpha,
    L*_ASC / L*_AET = 20 for every seed, and every point has converged (the same values at
    half the budget). Written into `folder` when given.
    """
    params = params or make_params()
    acc, lwlrap, half_acc = acc or {}, lwlrap or {}, half_acc or {}
    losses = losses or {"asc": [1.0, 1.1, 0.9, 1.2], "aet": [0.05, 0.055, 0.045, 0.06]}
    metrics = {"baselines": _figure("baselines", params, acc.get("baselines", {}), lwlrap.get("baselines", {}),
                                    losses, half_acc.get("baselines", {}), None)}
    for fig in FIGURES:
        metrics[fig] = _figure(fig, params, acc.get(fig, {}), lwlrap.get(fig, {}), losses, half_acc.get(fig, {}),
                               metrics["baselines"])
    metrics["budget"] = fabricate_budget(params)
    metrics["ranking"] = dict(RANKING)
    metrics = {name: (None if name in skip else m) for name, m in metrics.items()}
    if folder is not None:
        for name, m in metrics.items():
            if m is not None:
                write_json(folder / f"{name}.json", m)
    return metrics


def claim(number):
    return next(c for c in CLAIMS if c.number == number)


def verdict(metrics, number):
    return evaluate(claim(number), metrics, STATS).verdict


def t(values):
    return mean_test(values, level=STATS.level, margin=STATS.equivalence_margin, power=STATS.power)


# ------------------------------------------------------------------------ rules

def test_effect_rule_is_symmetric():
    assert verdict_effect(t(GAIN), STATS) == HOLDS
    assert verdict_effect(t([-g for g in GAIN]), STATS) == FAILS          # significant the other way
    assert verdict_effect(t([0.001, -0.001, 0.002, -0.0015]), STATS) == FAILS   # shown smaller than 2 pp
    assert verdict_effect(t([0.05, -0.04, 0.03, -0.03]), STATS) == INCONCLUSIVE
    assert verdict_effect(t([0.02]), STATS) == INCONCLUSIVE               # one seed: no test


def test_effect_rule_at_the_border():
    # d = (2, 3, 0, 1) pp: t = 2.324 with 3 d.o.f., one-sided p = 0.0514 just above 0.05
    assert t([0.02, 0.03, 0.00, 0.01])["p_greater"] == pytest.approx(0.0514, abs=1e-4)
    assert verdict_effect(t([0.02, 0.03, 0.00, 0.01]), STATS) == INCONCLUSIVE
    # a fifth seed at +2.5 pp: t = 3.30 with 4 d.o.f., p = 0.015
    assert verdict_effect(t([0.02, 0.03, 0.00, 0.01, 0.025]), STATS) == HOLDS


def test_an_absence_holds_only_when_shown():
    def absence(values):
        return verdict_compound([no_gain_part("", t(values), STATS)], STATS)[0]
    assert absence([0.001, -0.001, 0.002, -0.0015]) == HOLDS   # equivalent
    assert absence([-g for g in GAIN]) == HOLDS                # significantly worse
    assert absence(GAIN) == FAILS
    assert absence([0.05, -0.04, 0.03, -0.03]) == INCONCLUSIVE  # not found != absent


def test_band_and_all_rules():
    assert verdict_band(t([19.0, 20.0, 21.0, 20.5]), 10, 40) == HOLDS
    assert verdict_band(t([2.0, 3.0, 2.5]), 10, 40) == FAILS
    assert verdict_band(t([2.0, 20.0, 35.0]), 10, 40) == INCONCLUSIVE          # the interval straddles 10
    assert verdict_band(t([20.0]), 10, 40) == INCONCLUSIVE


def _parts(*spec):
    return [Part(f"part {i}", "", holds, p) for i, (holds, p) in enumerate(spec)]


def test_compound_claim_holds_when_every_part_does_and_fails_only_after_holm():
    assert verdict_compound(_parts((True, 0.9), (True, 0.8)), STATS)[0] == HOLDS
    assert verdict_compound(_parts((True, 0.9), (False, 0.3)), STATS)[0] == INCONCLUSIVE
    # p against: 0.01, 0.04, 0.03 -> Holm 0.03, 0.06, 0.06: only the first part is shown not to hold
    verdict, details = verdict_compound(_parts((False, 0.01), (False, 0.04), (False, 0.03)), STATS)
    assert verdict == FAILS and [d.verdict for d in details] == [FAILS, INCONCLUSIVE, INCONCLUSIVE]
    assert "Holm-adjusted p = 0.030" in details[0].ours and "Holm-adjusted p = 0.060" in details[1].ours
    # one part at p = 0.03 against it fails alone; among three parts (Holm: 0.09) it does not
    assert verdict_compound(_parts((False, 0.03)), STATS)[0] == FAILS
    assert verdict_compound(_parts((True, 0.9), (True, 0.8), (False, 0.03)), STATS)[0] == INCONCLUSIVE
    assert verdict_compound(_parts((True, 0.9), (False, None)), STATS)[0] == INCONCLUSIVE    # no test
    assert verdict_compound([], STATS)[0] == NOT_MEASURED


# ------------------------------------------------------------------------ claims

def test_mtl_near_one_beats_baseline():
    assert verdict(fabricate(), "1") == HOLDS
    below = {f"alpha={a:g}": plus(BASE, GAIN, -1) for a in (0.8, 0.9, 0.95)}
    assert verdict(fabricate(acc={"fig2": below}), "1") == FAILS
    noisy = {f"alpha={a:g}": plus(BASE, [0.05, -0.04, 0.03, -0.03]) for a in (0.8, 0.9, 0.95)}
    assert verdict(fabricate(acc={"fig2": noisy}), "1") == INCONCLUSIVE
    assert verdict(fabricate(skip=("fig2",)), "1") == NOT_MEASURED
    assert verdict(fabricate(params=make_params(alphas=(0.0, 0.5, 1.0))), "1") == NOT_MEASURED


def test_mtl_near_one_tests_every_alpha_of_the_range():
    outcome = evaluate(claim("1"), fabricate(), STATS)
    assert [d.label for d in outcome.details] == ["alpha=0.8", "alpha=0.9", "alpha=0.95"]
    assert "a claim of 3 parts" in outcome.test and "α ∈ {0.8, 0.9, 0.95}" in outcome.test
    assert outcome.interval.startswith("weakest point [+") and "seeds for +5.0 pp" in outcome.power
    # one α of the range below the baseline: the claim does not hold, whatever the others gain
    m = fabricate(acc={"fig2": {"alpha=0.95": plus(BASE, GAIN, -1)}})
    assert verdict(m, "1") == FAILS


def test_loss_ratio_and_eq3_alpha_are_one_claim():
    assert "3" not in [c.number for c in CLAIMS]
    m = fabricate()
    assert verdict(m, "2") == HOLDS
    outcome = evaluate(claim("2"), m, STATS)
    assert "Eq. 3's α = r / (1 + r) = 0.952" in outcome.ours          # 20 / 21, beside the ratio
    assert "α in [0.909, 0.976]" in outcome.test                      # the band, as α
    m = fabricate(losses={"asc": [1.0] * 4, "aet": [0.5] * 4})
    assert verdict(m, "2") == FAILS
    assert "reachability unknown" in evaluate(claim("2"), m, STATS).ours
    m = fabricate(losses={"asc": [1.0] * 4, "aet": [0.05, 0.05, 0.5, 0.5]})
    assert verdict(m, "2") == INCONCLUSIVE
    assert verdict(fabricate(skip=("baselines",)), "2") == NOT_MEASURED


def test_a_loss_floor_below_the_band_makes_the_ratio_unreachable_not_false():
    m = fabricate(losses={"asc": [1.0] * 4, "aet": [0.5] * 4})     # r = 2, far below [10, 40]
    # L_AET cannot go below 0.2 nats: at L*_ASC = 1 the ratio reaches 5 at most
    m["baselines"]["loss_floors"] = {"asc": 0.25, "aet": 0.2}
    outcome = evaluate(claim("2"), m, STATS)
    assert outcome.verdict == UNREACHABLE
    assert "reaches at most 5.0" in outcome.ours and "both at their floors: 1.2" in outcome.ours
    # 20 reachable (up to 100): the ratio measured simply is not the paper's
    m["baselines"]["loss_floors"] = {"asc": 0.25, "aet": 0.01}
    assert evaluate(claim("2"), m, STATS).verdict == FAILS
    # inside the band but short of 20 (at most 12.5): the paper's number is out of reach
    m["baselines"]["loss_floors"] = {"asc": 0.25, "aet": 0.08}
    assert evaluate(claim("2"), m, STATS).verdict == UNREACHABLE
    # a ratio that holds stays so, whatever the floors
    m = fabricate()
    m["baselines"]["loss_floors"] = {"asc": 0.25, "aet": 0.049}
    assert evaluate(claim("2"), m, STATS).verdict == HOLDS


def test_better_tagging_is_not_better_scenes():
    no_gain = {"fig2": {"alpha=0.5": BASE}}
    assert verdict(fabricate(acc=no_gain), "4") == HOLDS
    # GAIN (+3.9 pp) is shown beyond the +2 pp margin (p = 0.003; Holm over 2 parts: 0.006)
    assert margin_tests(t(GAIN), 0.02)["p_above_margin"] < 0.025
    assert verdict(fabricate(), "4") == FAILS
    # a gain that is significant but inside the margin is what the absence allows
    small = [0.008, 0.012, 0.01, 0.011]
    assert t(small)["p_greater"] < 0.001
    assert verdict(fabricate(acc={"fig2": {"alpha=0.5": plus(BASE, small)}}), "4") == HOLDS
    worse_tagging = {"fig2": {"alpha=0.5": [0.05, 0.06, 0.04, 0.05]}}
    assert verdict(fabricate(acc=no_gain, lwlrap=worse_tagging), "4") == FAILS
    assert verdict(fabricate(params=make_params(alphas=(0.0, 0.9, 1.0))), "4") == NOT_MEASURED


def test_every_point_must_beat_the_baseline():
    m = fabricate()
    assert [verdict(m, n) for n in ("5", "7", "11")] == [HOLDS] * 3
    m = fabricate(acc={"fig3a": {"random": BASE}, "fig3b": {"T=0.02h": BASE}, "fig5": {"joint": BASE}})
    assert [verdict(m, n) for n in ("5", "7", "11")] == [FAILS] * 3
    noisy = plus(BASE, [0.05, -0.04, 0.03, -0.03])
    assert verdict(fabricate(acc={"fig3a": {"random": noisy}}), "5") == INCONCLUSIVE


def test_a_part_that_fails_alone_does_not_fail_the_claim_after_holm():
    worse = [-0.01, -0.03, -0.005, -0.02]           # below the baseline at p = 0.030, not within 2 pp
    alone = t(worse)
    assert 0.05 / 3 < alone["p_less"] < 0.05 and alone["p_equivalent"] > 0.05
    m = fabricate(acc={"fig3a": {"random": plus(BASE, worse)}})
    outcome = evaluate(claim("5"), m, STATS)
    assert outcome.verdict == INCONCLUSIVE         # the rule without Holm said: does not hold
    assert [d.verdict for d in outcome.details] == [INCONCLUSIVE, HOLDS, HOLDS]
    assert "Holm-adjusted p = 0.091" in outcome.details[0].ours


def test_choice_of_events():
    assert verdict(fabricate(), "6") == HOLDS
    apart = {"fig3a": {"random": plus(BASE, GAIN), "correlated": plus(BASE, GAIN, 3),
                       "uncorrelated": plus(BASE, GAIN, 6)}}
    assert verdict(fabricate(acc=apart), "6") == FAILS


def test_choice_of_events_fails_only_beyond_the_margin_not_on_a_significant_anova():
    """Strategies 0.5 and 1 pp apart, each seed alike: the ANOVA is significant, but every
    difference lies inside the 2 pp margin, which is what "no dependence" allows."""
    random = plus(BASE, GAIN)
    correlated = plus(random, [0.005, 0.006, 0.004, 0.005])
    uncorrelated = plus(random, [0.010, 0.011, 0.009, 0.010])
    anova = rm_anova(list(zip(random, correlated, uncorrelated)))
    assert anova["gg_p_value"] < 0.001
    m = fabricate(acc={"fig3a": {"random": random, "correlated": correlated, "uncorrelated": uncorrelated}})
    outcome = evaluate(claim("6"), m, STATS)
    assert outcome.verdict == HOLDS
    assert "(shown, not deciding)" in outcome.ours and "equivalence route: power" in outcome.power
    assert "level 0.0167" in outcome.power                           # the pairs' Bonferroni level
    # a noisy pair inside the margin on average: neither shown inside nor beyond it
    noisy = plus(random, [0.04, -0.03, 0.035, -0.035])
    m = fabricate(acc={"fig3a": {"random": random, "correlated": noisy, "uncorrelated": random}})
    assert verdict(m, "6") == INCONCLUSIVE


def test_accuracy_grows_with_hours_and_k():
    hours = ("T=0.01h", "T=0.02h", "T=0.04h")
    ks = ("k=2", "k=4", "k=6")
    growing = {"fig3b": {t: plus(BASE, GAIN, i + 1) for i, t in enumerate(hours)},
               "fig4": {k: plus(BASE, GAIN, i + 1) for i, k in enumerate(ks)}}
    m = fabricate(acc=growing)
    # claim 10 is "weak": a change of 2 x GAIN (+7.75 pp) across the k grid is beyond the margin
    assert verdict(m, "8") == HOLDS and verdict(m, "10") == FAILS
    shrinking = {"fig3b": {t: plus(BASE, GAIN, 4 - i) for i, t in enumerate(hours)},
                 "fig4": {k: plus(BASE, GAIN, 4 - i) for i, k in enumerate(ks)}}
    m = fabricate(acc=shrinking)
    assert verdict(m, "8") == FAILS and verdict(m, "10") == FAILS
    m = fabricate()                             # flat: no change across the grid, shown within 2 pp
    assert verdict(m, "8") == FAILS and verdict(m, "10") == HOLDS
    noisy = {"fig3b": {t: plus(BASE, [0.05, -0.04, 0.03, -0.03], (-1) ** i) for i, t in enumerate(hours)}}
    assert verdict(fabricate(acc=noisy), "8") == INCONCLUSIVE


def test_two_events():
    assert verdict(fabricate(), "9") == HOLDS
    assert verdict(fabricate(acc={"fig4": {"k=2": BASE}}), "9") == FAILS
    assert verdict(fabricate(params=make_params(ks=(3, 5))), "9") == NOT_MEASURED


def test_joint_against_pretraining():
    assert verdict(fabricate(), "12") == FAILS                     # identical: shown not better
    lower = plus(BASE, [0.01, 0.02, 0.015, 0.03])
    assert verdict(fabricate(acc={"fig5": {"pretrain+finetune": lower}}), "12") == HOLDS
    higher = plus(BASE, [0.06, 0.08, 0.07, 0.09])
    assert verdict(fabricate(acc={"fig5": {"pretrain+finetune": higher}}), "12") == FAILS


JOINT = {fig: [p.label for p in figure_points(fig, make_params()) if p.events and not p.baseline
               and not p.pretrain] for fig in ("fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41")}


def joint_gains(gains: dict) -> dict:
    """acc for fabricate: every joint-training point its own gain per seed (a few pp below
    the baseline, shifted by the point's index so that no two points share values), except
    the points named in `gains`."""
    acc, i = {}, 0
    for fig, labels in JOINT.items():
        for label in labels:
            i += 1
            acc.setdefault(fig, {})[label] = plus(BASE, gains.get((fig, label), [-0.01 * i - 0.001 * j
                                                                               for j in range(4)]))
    return acc


def protocol_points(m):
    """The distinct joint points at the protocol's α (Eq. 3's, that of Figs 3a, 3b and 4)."""
    alpha = m["fig3a"]["points"]["random"]["alpha"]
    return [p for p in distinct_joint_points(m) if abs(p[2] - alpha) < 1e-9]


def test_largest_gain_counts_points_that_share_runs_once():
    assert sum(len(labels) for labels in JOINT.values()) == 20
    assert len(distinct_joint_points(fabricate(acc=joint_gains({})))) == 20
    shared = plus([0.0] * 4, GAIN)
    m = fabricate(acc=joint_gains({("fig3a", "random"): shared, ("fig4", "k=6"): shared,
                                   ("fig5", "joint"): shared}))
    points = distinct_joint_points(m)
    assert len(points) == 18
    assert ["fig3a random", "fig4 k=6", "fig5 joint"] in [names for names, _, _ in points]
    n = len(protocol_points(m))
    assert n == 10     # Figs 3a, 3b and 4 (3 each), fig5 joint and 2 regularizer points at Eq. 3's α, less 2 shared
    outcome = evaluate(claim("13"), m, STATS)
    assert f"each of the {n} distinct points at the protocol's α = 0.952" in outcome.test
    assert outcome.confidence == pytest.approx(1 - 0.05 / n)
    assert "looser reading is decided over all 18 joint points" in outcome.test


def per_test_ci(values, m):
    return mean_test(values, level=STATS.level / m)["ci"]


def test_largest_gain_strictly_needs_a_simultaneous_lower_bound_at_5_pp():
    n = len(protocol_points(fabricate(acc=joint_gains({}))))
    # [+0.1, +7.7]-like: above 0 and reaching +5 pp, but not shown to gain +5 pp
    reaching = [0.035, 0.045, 0.04, 0.05]
    lo, hi = per_test_ci(reaching, n)
    assert 0 < lo < 0.05 <= hi
    outcome = evaluate(claim("13"), fabricate(acc=joint_gains({("fig3a", "random"): reaching})), STATS)
    assert outcome.verdict == INCONCLUSIVE
    assert "looser reading (some joint point's interval above 0 reaching +5 pp, any α): holds" in outcome.ours
    # a gain whose simultaneous lower bound clears +5 pp
    high = [0.08, 0.085, 0.09, 0.082]
    assert per_test_ci(high, n)[0] >= 0.05
    assert verdict(fabricate(acc=joint_gains({("fig3b", "T=0.02h"): high})), "13") == HOLDS
    # the same gain at a grid α that is not the protocol's decides only the looser reading
    outcome = evaluate(claim("13"), fabricate(acc=joint_gains({("fig2", "alpha=0.9"): high})), STATS)
    assert outcome.verdict == FAILS and "any α): holds" in outcome.ours
    assert "fig2 alpha=0.9 (α = 0.9, looser reading only)" in [d.label for d in outcome.details]


def test_largest_gain_fails_when_every_simultaneous_upper_bound_is_below_5_pp():
    tight = [0.03, 0.031, 0.029, 0.030]            # +3 pp, clearly below +5 pp
    noisy = [0.06, -0.04, 0.05, -0.03]             # +1 pp, its interval far wider than +5 pp
    assert verdict(fabricate(acc=joint_gains({("fig3a", "random"): tight})), "13") == FAILS
    m = fabricate(acc=joint_gains({("fig3a", "random"): tight, ("fig4", "k=6"): noisy}))
    assert verdict(m, "13") == INCONCLUSIVE
    outcome = evaluate(claim("13"), m, STATS)
    assert "highest upper bound" in outcome.interval and "(fig4 k=6)" in outcome.interval
    assert {d.label: d.verdict for d in outcome.details}["fig4 k=6"] == "strict: undecided; looser: undecided"
    worse = {fig: {p.label: plus(BASE, GAIN, -1) for p in figure_points(fig, make_params())} for fig in FIGURES}
    assert verdict(fabricate(acc=worse), "13") == FAILS
    assert verdict(fabricate(skip=FIGURES), "13") == NOT_MEASURED
    high = [0.08, 0.085, 0.09, 0.082]
    partial = evaluate(claim("13"), fabricate(acc=joint_gains({("fig3a", "random"): high}), skip=("fig4", "fig5")),
                       STATS)
    assert partial.verdict == HOLDS and "not run: fig4, fig5" in partial.test


def test_aet_as_regularizer():
    assert verdict(fabricate(), "14") == HOLDS                     # single regularizers at the baseline
    tie = {"regularizers": {s: plus(BASE, GAIN) for s in ("dropout", "mixup", "specaugment")}}
    assert verdict(fabricate(acc=tie), "14") == FAILS               # shown equal: not stronger
    assert verdict(fabricate(acc={"regularizers": {"mixup": plus(BASE, GAIN, 2)}}), "14") == FAILS


def test_high_alpha_must_beat_at_every_size():
    assert verdict(fabricate(), "17") == HOLDS
    # the low alpha is not the claim: its points may lose
    low = {"sec41": {"T=0.01h alpha=0.5": plus(BASE, GAIN, -1), "T=0.04h alpha=0.5": plus(BASE, GAIN, -1)}}
    assert verdict(fabricate(acc=low), "17") == HOLDS
    # one data set at the high alpha shown no better: the claim fails
    assert verdict(fabricate(acc={"sec41": {"T=0.04h alpha=0.9": plus(BASE, GAIN, -1)}}), "17") == FAILS
    assert verdict(fabricate(skip=("sec41",)), "17") == NOT_MEASURED


def test_loss_scale_per_k_uses_eq3_with_the_asc_baseline():
    from aetasc.analysis.report import loss_scale_by_k, loss_scale_lines
    m = fabricate()
    rows = loss_scale_by_k(m)
    l_asc, l_aet = np.mean([1.0, 1.1, 0.9, 1.2]), np.mean([0.05, 0.055, 0.045, 0.06])
    assert [k for k, _, _ in rows] == [2, 4, 6]
    for _, loss, alpha in rows:
        assert loss == pytest.approx(l_aet) and alpha == pytest.approx(l_asc / (l_asc + l_aet))
    assert any(line.startswith("| 6 | 0.0525 | 0.315 |") for line in loss_scale_lines(m))
    assert loss_scale_by_k(fabricate(skip=("fig4",))) == []


def test_lwlrap_grows_with_alpha():
    assert verdict(fabricate(), "16") == HOLDS


def test_figure_without_baseline_is_not_measured():
    m = fabricate()
    m["fig3a"]["baseline"] = None
    assert verdict(m, "5") == NOT_MEASURED


def test_every_claim_is_not_measured_without_metrics(tmp_path):
    metrics, digests = load_metrics(tmp_path)
    text = render(metrics, digests, STATS, evaluate_all(metrics, STATS))
    table = text.split("## Claims")[1].split("Summary:")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(CLAIMS)
    assert all("**not measured**" in row for row in rows)
    assert "Event ranking: not measured" in text


# ------------------------------------------------------------------------ the stage

def _params_file(folder):
    (folder / "params.yaml").write_text(yaml.safe_dump(tiny_raw_params()))


def test_stage_renders_every_claim(tmp_path):
    fabricate(tmp_path / "metrics")
    _params_file(tmp_path)
    run_stage(tmp_path, "report.py", "--metrics", "metrics", "--out", "figures/REPORT.md")
    text = (tmp_path / "figures" / "REPORT.md").read_text()
    for claim in CLAIMS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {claim.number} | "))
        assert any(f"**{v}**" in row for v in (HOLDS, FAILS, INCONCLUSIVE)), row
    assert "**synthetic** world: 4 seeds (0, 1, 2, 3), 4 epochs" in text
    assert "not the paper's data" in text
    assert "precision of the top 4 75.0 %; the 12 lowest-ranked classes hold no scene event" in text
    assert "`fig2.json`" in text and "missing: none" in text
    assert "## Verdict rules" in text and "| 95 % CI | Power |" in text


def test_interval_column_names_every_level_but_the_columns():
    m = fabricate(acc=joint_gains({}))
    text = render(m, {}, STATS, evaluate_all(m, STATS))
    rows = {c.number: next(line for line in text.splitlines() if line.startswith(f"| {c.number} | {c.text} |"))
            .split(" | ")[8] for c in CLAIMS}
    assert rows["6"].startswith("98.3 % CI: largest pair [")           # 3 pairs, Bonferroni
    assert rows["13"].startswith("99.6 % CI: highest lower bound ")    # 1 - 0.05 / 12 protocol points
    assert all("% CI" not in cell for number, cell in rows.items() if number not in ("6", "13"))


def test_stage_is_deterministic_and_tolerates_missing_files(tmp_path):
    fabricate(tmp_path / "metrics", skip=("fig4", "ranking"))
    _params_file(tmp_path)
    for out in ("a.md", "b.md"):
        run_stage(tmp_path, "report.py", "--metrics", "metrics", "--out", out)
    text = (tmp_path / "a.md").read_text()
    assert text == (tmp_path / "b.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| 9 | "))
    assert "**not measured**" in row and "missing fig4.json" in row
    assert "missing: `fig4.json`, `ranking.json`" in text


def test_disagreeing_settings_are_flagged(tmp_path):
    m = fabricate(tmp_path)
    m["fig5"]["epochs"] = 7
    write_json(tmp_path / "fig5.json", m["fig5"])
    metrics, digests = load_metrics(tmp_path)
    text = render(metrics, digests, STATS, evaluate_all(metrics, STATS))
    assert "disagree" in text and "(fig5)" in text


@pytest.mark.parametrize("world", ["paper"])
def test_paper_world_has_no_synthetic_disclaimer(tmp_path, world):
    m = fabricate()
    for name in FIGURES + ("baselines",):
        m[name]["world"] = world
    text = render(m, {}, STATS, evaluate_all(m, STATS))
    assert "**paper** world" in text and "not the paper's data" not in text


# ------------------------------------------------------------------------ metrics/summary.json

def test_summary_keys_are_flat_and_values_are_rounded_percentages(tmp_path):
    from aetasc.analysis.summary import key, summarize
    assert key("fig2", "alpha=0.95", "asc_accuracy") == "fig2_alpha_0p95_asc_accuracy"
    assert key("fig3b", "T=0.05h") == "fig3b_T_0p05h"
    assert key("regularizers", "aet+specaugment+mixup") == "regularizers_aet_specaugment_mixup"
    metrics = fabricate(tmp_path / "metrics")
    s = summarize(metrics, STATS, evaluate_all(metrics, STATS))
    assert all(re.fullmatch(r"[0-9A-Za-z_]+", k) for k in s)
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s.values())
    base = t(metrics["baselines"]["raw"]["asc"]["asc_accuracy"])
    assert s["baseline_asc_accuracy_mean"] == round(100 * base["mean"], 2)
    assert s["baseline_asc_accuracy_ci_low"] == round(100 * base["ci"][0], 2)
    point = metrics["fig3a"]["raw"]["random"]["asc_accuracy"]
    assert s["fig3a_random_asc_accuracy_mean"] == round(100 * float(np.mean(point)), 2)
    counts = [s[f"claims_{v.replace(' ', '_')}"] for v in (HOLDS, FAILS, INCONCLUSIVE, "not measured")]
    assert sum(counts) == len(CLAIMS)
    _params_file(tmp_path)
    run_stage(tmp_path, "report.py", "--metrics", "metrics", "--out", "REPORT.md", "--summary", "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text()) == s
    row_counts = re.search(r"Summary: (\d+) holds, (\d+) does not hold, (\d+) inconclusive", (tmp_path / "REPORT.md").read_text())
    assert [int(n) for n in row_counts.groups()] == counts[:3]


def test_rounding_hides_last_bit_differences():
    from aetasc.io import round_floats
    assert round_floats({"rho": 0.49043157064919957}) == round_floats({"rho": 0.4904315706491995})
    assert round_floats([-1e-12, (0.1234567891, 2), "x", None, 3]) == [0.0, [0.123457, 2], "x", None, 3]
    assert str(round_floats(-1e-12)) == "0.0"


# ------------------------------------------------------------------------ budget and convergence

def test_a_claim_on_runs_that_did_not_converge_is_not_decided():
    params = make_params()
    m = fabricate()
    assert verdict(m, "7") == HOLDS
    # fig3b's smallest T still rose by 3 pp over the second half of its budget
    late = {"fig3b": {"T=0.01h": plus(plus(BASE, GAIN), [-0.03] * 4)}}
    m = fabricate(half_acc=late, params=params)
    assert not m["fig3b"]["convergence"]["converged"]
    assert m["fig3b"]["convergence"]["points"]["T=0.01h"]["rises"]["asc_accuracy"] == pytest.approx(0.03)
    # its gain rose 3 pp: the drift still allowed can only strengthen "beats the baseline"
    outcome = dict((c.number, o) for c, o in evaluate_all(m, STATS))
    assert outcome["7"].verdict == HOLDS
    assert outcome["7"].converged == "moving, cannot change the verdict: fig3b T=0.01h +3.0 to +3.0 pp"
    text = render(m, {}, STATS, evaluate_all(m, STATS))
    assert "| fig3b | **no** | 2 of 3 | +3.0 pp (T=0.01h) | T=0.01h |" in text
    # its gain fell 3 pp: the same drift again would leave +0.9 pp, not shown above the baseline
    fell = {"fig3b": {"T=0.01h": plus(plus(BASE, GAIN), [0.03] * 4)}}
    outcome = dict((c.number, o) for c, o in evaluate_all(fabricate(half_acc=fell, params=params), STATS))
    assert outcome["7"].verdict == INCONCLUSIVE
    assert "would be: holds; runs not converged" in outcome["7"].ours
    assert outcome["7"].converged == "no: fig3b T=0.01h -3.0 to -3.0 pp could change the verdict"
    assert outcome["5"].converged == "yes" and outcome["5"].verdict == HOLDS   # fig3a converged


def _recheck_baselines(m, **half_values):
    """Change the baselines' half-budget values (raw per seed, or eq3_alpha) and their check."""
    half = m["baselines"]["half_budget"]
    for key, value in half_values.items():
        if key == "eq3_alpha":
            half["eq3_alpha"] = value
        else:
            label, metric = key.split("__")
            half["raw"][label][metric] = value
    m["baselines"]["convergence"] = convergence(half, m["baselines"], m["baselines"]["convergence"]["tolerance"])


def test_a_claim_waits_only_for_what_it_reads():
    m = fabricate()
    # the AET baseline's lwlrap rose 5 pp over the second half: no claim reads it
    _recheck_baselines(m, aet__lwlrap=[v - 0.05 for v in m["baselines"]["raw"]["aet"]["lwlrap"]])
    assert not m["baselines"]["convergence"]["points"]["aet"]["converged"]
    outcome = dict((c.number, o) for c, o in evaluate_all(m, STATS))
    assert all(o.converged == "yes" for o in outcome.values())
    assert outcome["7"].verdict == HOLDS
    # the ASC baseline's accuracy rose 3 pp: every gain fell 3 pp and waits, the claims within a
    # figure do not
    m = fabricate(half_acc={"baselines": {"asc": [v - 0.03 for v in BASE]}})
    outcome = dict((c.number, o) for c, o in evaluate_all(m, STATS))
    assert outcome["7"].verdict == INCONCLUSIVE
    assert outcome["7"].converged == "no: fig3b T=0.01h -3.0 to -3.0 pp could change the verdict"
    assert outcome["8"].converged == outcome["6"].converged == outcome["15"].converged == "yes"
    assert outcome["2"].converged == "yes"


def test_eq3_alpha_that_still_moves_holds_back_the_claims_trained_at_it():
    m = fabricate()
    alpha = m["baselines"]["eq3_alpha"]
    assert m["fig3b"]["points"]["T=0.01h"]["alpha"] == pytest.approx(alpha)      # `alpha: auto`
    _recheck_baselines(m, eq3_alpha=alpha - 0.03)
    outcome = dict((c.number, o) for c, o in evaluate_all(m, STATS))
    moved = f"Eq. 3's α {alpha - 0.03:.3f} → {alpha:.3f}"
    for number in ("2", "5", "7", "8", "9", "11", "13", "14"):
        assert outcome[number].converged == "no: " + moved, number
    assert outcome["7"].verdict == INCONCLUSIVE
    # Fig. 2 trains at its own α grid, sec41 at 0.9: not at Eq. 3's α
    assert outcome["1"].converged == outcome["16"].converged == outcome["17"].converged == "yes"
    assert outcome["1"].verdict == HOLDS
    text = render(m, {}, STATS, evaluate_all(m, STATS))
    assert "(moved +0.030): **not converged**" in text
    # within the tolerance it is converged
    _recheck_baselines(m, eq3_alpha=alpha - 0.005)       # the tests' tolerance: 0.01
    assert dict((c.number, o) for c, o in evaluate_all(m, STATS))["7"].converged == "yes"


def test_a_grid_alpha_equal_to_eq3s_is_not_held_back_by_it():
    """Whether a point trained at Eq. 3's alpha is the training stage's word (`at_eq3_alpha`),
    not a numeric coincidence: a Fig. 2 grid point at Eq. 3's number does not wait for it."""
    m = fabricate()
    claim1 = next(c for c in CLAIMS if c.number == "1")
    reads = claim1.reads(m)
    _, label, _ = next(r for r in reads if r[0] == "fig2")
    alpha = m["fig2"]["points"][label]["alpha"]
    m["baselines"]["eq3_alpha"] = alpha
    _recheck_baselines(m, eq3_alpha=alpha - 0.03)                  # and it is still moving
    assert not m["fig2"]["points"][label]["at_eq3_alpha"]
    assert m["fig3b"]["points"]["T=0.01h"]["at_eq3_alpha"]          # `alpha: auto`
    assert with_eq3_alpha(m, reads) == reads
    outcome = dict((c.number, o) for c, o in evaluate_all(m, STATS))
    assert outcome["1"].converged == "yes"
    assert outcome["7"].converged.startswith("no: Eq. 3's α")


def test_a_claim_on_tagging_reads_lwlrap():
    m = fabricate()
    fig = m["fig3b"]
    late = "T=0.04h"
    fig["half_budget"]["raw"][late]["lwlrap"] = [v - 0.04 for v in fig["raw"][late]["lwlrap"]]
    fig["convergence"] = convergence(fig["half_budget"], fig, fig["convergence"]["tolerance"])
    assert fig["convergence"]["points"][late]["converged"]          # its ASC accuracy did not move
    outcome = dict((c.number, o) for c, o in evaluate_all(m, STATS))
    assert outcome["15"].converged == f"moving, cannot change the verdict: fig3b {late} lwlrap +4.0 to +4.0 pp"
    assert outcome["7"].converged == outcome["8"].converged == "yes"


def test_a_verdict_that_changes_at_half_the_budget_is_fragile():
    # at half the budget k = 2 was below the baseline: claim 9 holds only at the full budget
    m = fabricate(half_acc={"fig4": {"k=2": plus(BASE, GAIN, -1)}},
                  params=make_params())
    outcomes = dict((c.number, o) for c, o in evaluate_all(m, STATS))
    assert outcomes["9"].at_half_budget == "does not hold (fragile)"
    # the gain rose 7.8 pp: not converged, but rising only strengthens "beats the baseline"
    assert outcomes["9"].verdict == HOLDS and outcomes["9"].converged.startswith("moving, cannot change")
    assert outcomes["5"].at_half_budget == outcomes["5"].verdict == HOLDS
    text = render(m, {}, STATS, evaluate_all(m, STATS))
    assert "fragile (another verdict at half the budget): claims 9" in text


def test_a_claim_held_back_keeps_its_would_be_verdict_at_half_the_budget_and_is_not_fragile():
    # k = 2 gained 1.8 x GAIN at half the budget: its gain fell 3.1 pp since, and as much again
    # would leave it undecided; both budgets' numbers say it beats the baseline
    m = fabricate(half_acc={"fig4": {"k=2": plus(BASE, GAIN, 1.8)}}, params=make_params())
    evaluated = evaluate_all(m, STATS)
    claim9 = dict((c.number, o) for c, o in evaluated)["9"]
    assert claim9.verdict == INCONCLUSIVE
    assert "would be: holds" in claim9.ours
    assert claim9.at_half_budget == HOLDS
    assert not is_fragile(claim9)
    assert "before the convergence rule" in render(m, {}, STATS, evaluated)


def test_metrics_without_the_check_are_not_checked_nor_downgraded():
    m = fabricate()
    for name in FIGURES + ("baselines",):
        del m[name]["convergence"], m[name]["half_budget"]
    outcomes = dict((c.number, o) for c, o in evaluate_all(m, STATS))
    assert outcomes["7"].verdict == HOLDS and outcomes["7"].converged == "not checked"
    assert outcomes["7"].at_half_budget == "—"


def test_the_study_finds_the_plateau_and_the_report_compares_the_budget_with_it():
    params = make_params()
    study = fabricate_budget(params)
    # each arm gains 4 pp per doubling up to 8 epochs, nothing from 8 to 16
    assert study["arms"]["asc"]["rise"]["8"]["mean"] == pytest.approx(0.04)
    assert study["arms"]["joint eq3"]["rise"]["16"]["mean"] == pytest.approx(0.0)
    assert study["plateau_epochs"] == 16
    lines = "\n".join(budget_lines({"budget": study, "fig2": {"epochs": 16}}, STATS))
    assert "the plateau is at **16 epochs**; the figures train for 16: at or past it" in lines
    lines = "\n".join(budget_lines({"budget": study, "fig2": {"epochs": 8}}, STATS))
    assert "**below the plateau**" in lines
    # one arm still gaining 1.5 pp from 8 to 16: no plateau within the study
    late = fabricate_budget(params, acc={("pretrain+finetune", 16): [0.675 + 0.001 * i for i in range(4)]})
    assert late["arms"]["pretrain+finetune"]["rise"]["16"]["mean"] == pytest.approx(0.015)
    assert late["plateau_epochs"] is None
    assert "not converged by 16 epochs" in "\n".join(budget_lines({"budget": late, "fig2": {"epochs": 16}}, STATS))
    assert "has not run" in "\n".join(budget_lines({"fig2": {"epochs": 16}}, STATS))


def test_the_study_judges_the_aet_baseline_by_eq3_alpha_not_by_its_lwlrap():
    params = make_params()
    # the AET-only arm's lwlrap still gains 5 pp from 8 to 16 epochs: not in the criterion
    tagging = fabricate_budget(params, acc={("aet", 16): [0.71 + 0.001 * i for i in range(4)]})
    assert tagging["arms"]["aet"]["rise"]["16"]["mean"] == pytest.approx(0.05)
    assert tagging["plateau_epochs"] == 16
    # Eq. 3's α from the losses: L_ASC = 1 / b and L_AET = 0.1 / b keep it at 1 / 1.1
    assert tagging["eq3_alpha"]["16"] == pytest.approx(1 / 1.1)
    lines = "\n".join(budget_lines({"budget": tagging, "fig2": {"epochs": 16}}, STATS))
    assert "| aet: added by doubling (pp; not in the criterion) | — | +4.0 | +4.0 | +5.0 |" in lines
    assert "| Eq. 3's α: moved by doubling | — | +0.000 | +0.000 | +0.000 |" in lines
    # the ASC baseline's loss falls faster from 8 to 16 epochs than L_AET: α moves 0.08
    moved = fabricate_budget(params, loss_asc={("asc", 16): 0.5 / 16})
    assert moved["eq3_alpha"]["16"] == pytest.approx(0.5 / 0.6)
    assert moved["plateau_epochs"] is None
    assert "| Eq. 3's α: moved by doubling | — | +0.000 | +0.000 | -0.076 ▲ |" in "\n".join(
        budget_lines({"budget": moved, "fig2": {"epochs": 16}}, STATS))


# ------------------------------------------------------------------------ absences, read as the paper states them

def test_margin_tests_are_scipys_one_sample_t_tests_against_the_margin():
    from scipy import stats as sp
    x = [0.031, 0.012, 0.044, 0.027, 0.019]
    mt = margin_tests(t(x), 0.02)
    assert mt["p_above_margin"] == pytest.approx(sp.ttest_1samp(x, 0.02, alternative="greater").pvalue)
    assert mt["p_below_margin"] == pytest.approx(sp.ttest_1samp(x, 0.02, alternative="less").pvalue)
    assert mt["p_below_minus_margin"] == pytest.approx(sp.ttest_1samp(x, -0.02, alternative="less").pvalue)
    # TOST's p is the larger of the two inner tests
    assert t(x)["p_equivalent"] == pytest.approx(max(mt["p_below_margin"], mt["p_above_minus_margin"]))


def strategies(n_seeds, shift=(0.0, 0.0, 0.0), spread=0.01, seed=0):
    """fig3a's raw values for n seeds: a per-seed level shared by the strategies (the seed's
    initialization) plus independent noise of `spread`, strategies apart by `shift`."""
    rng = np.random.default_rng(seed)
    level = 0.7 + 0.02 * rng.standard_normal(n_seeds)
    raw = {name: {"x": i, "alpha": 0.8, "seeds": list(range(n_seeds)),
                  "asc_accuracy": list(level + d + spread * rng.standard_normal(n_seeds))}
           for i, (name, d) in enumerate(zip(("random", "correlated", "uncorrelated"), shift))}
    return {"fig3a": {"raw": raw}}


def test_a_true_absence_is_inconclusive_with_few_seeds_and_holds_with_enough():
    from aetasc.analysis.absence import no_strategy_dependence
    few = no_strategy_dependence(strategies(8, spread=0.02), STATS)
    assert few.verdict == INCONCLUSIVE
    # the pairs' differences have sd ~2.8 pp: the route to *holds* is weak at 8 seeds ...
    power = float(re.search(r"power (\d+) %", few.power).group(1))
    need = int(re.search(r"; (\d+) seeds for 80 %", few.power).group(1))
    assert power < 50 and need > 8
    # ... and with the seeds it asks for, the same world's absence holds
    many = no_strategy_dependence(strategies(2 * need, spread=0.02), STATS)     # power ~99 %
    assert many.verdict == HOLDS
    assert float(re.search(r"power (\d+) %", many.power).group(1)) >= 80


def test_an_absence_fails_only_on_a_difference_beyond_the_margin():
    from aetasc.analysis.absence import no_strategy_dependence
    # 1 pp apart at 60 seeds: significant, and shown inside the margin: holds
    close = strategies(60, shift=(0.0, 0.01, 0.0), spread=0.005)
    diff = [a - b for a, b in zip(close["fig3a"]["raw"]["correlated"]["asc_accuracy"],
                                  close["fig3a"]["raw"]["random"]["asc_accuracy"])]
    assert t(diff)["p_greater"] < 1e-6
    assert no_strategy_dependence(close, STATS).verdict == HOLDS
    # 5 pp apart: shown beyond the margin, at the pairs' Bonferroni level
    apart = no_strategy_dependence(strategies(8, shift=(0.0, 0.05, 0.0)), STATS)
    assert apart.verdict == FAILS
    assert "level 0.0167 (Bonferroni over 3 pairs)" in apart.test


def k_grid(changes_per_seed, ks=(2, 5, 10)):
    """fig4's raw values: each seed's ASC accuracy rising linearly by its change across the grid."""
    n = len(changes_per_seed)
    span = ks[-1] - ks[0]
    raw = {f"k={k}": {"x": k, "alpha": 0.8, "seeds": list(range(n)),
                      "asc_accuracy": [0.7 + c * (k - ks[0]) / span for c in changes_per_seed]} for k in ks}
    return {"fig4": {"raw": raw}}


def test_weak_dependence_on_k_is_a_change_within_the_margin():
    from aetasc.analysis.absence import insensitive_to_k
    # +4 pp across the grid at a spread of 2.5 pp, 8 seeds (the record's numbers): beyond 2 pp, p = 0.03
    strong = [0.04 + 0.025 * z for z in (-1.2, -0.8, -0.3, 0.0, 0.2, 0.4, 0.6, 1.1)]
    o = insensitive_to_k(k_grid(strong), STATS)
    x = t(strong)
    from scipy import stats as sp
    assert f"p = {sp.ttest_1samp(strong, 0.02, alternative='greater').pvalue:.3f}" in o.ours
    assert o.verdict == FAILS and x["p_greater"] < 0.05
    # +0.5 pp, tight: a weak positive change, shown within the margin
    weak = [0.005 + 0.002 * z for z in (-1.2, -0.8, -0.3, 0.0, 0.2, 0.4, 0.6, 1.1)]
    assert insensitive_to_k(k_grid(weak), STATS).verdict == HOLDS
    # +1 pp at a spread of 3 pp: neither
    loose = [0.01 + 0.03 * z for z in (-1.2, -0.8, -0.3, 0.0, 0.2, 0.4, 0.6, 1.1)]
    o = insensitive_to_k(k_grid(loose), STATS)
    assert o.verdict == INCONCLUSIVE and "equivalence route: power" in o.power


def tagging_points(asc_by_alpha, lwlrap_by_alpha, n=6):
    raw = {f"alpha={a:g}": {"x": a, "alpha": a, "seeds": list(range(n)), "asc_accuracy": asc_by_alpha[a],
                            "lwlrap": lwlrap_by_alpha[a]} for a in asc_by_alpha}
    return {"fig2": {"raw": raw}}


def test_the_first_finding_holds_when_an_aet_gain_comes_without_an_asc_gain():
    from aetasc.analysis.absence import aet_gain_is_not_asc_gain
    noise = [0.001, -0.002, 0.0015, -0.001, 0.002, -0.0005]
    lwlrap = {0.0: [0.1 + e for e in noise], 0.5: [0.7 + e for e in noise], 0.9: [0.8 - e for e in noise]}
    flat = {a: [0.7 + e for e in noise] for a in (0.0, 0.5, 0.9)}
    o = aet_gain_is_not_asc_gain(tagging_points(flat, lwlrap), STATS)
    assert o.verdict == HOLDS
    assert "3 of 3 pairs gain in lwlrap; ASC gain shown in 0 of them, shown below +2.0 pp in 3" in o.ours
    assert "level 0.0167, Bonferroni over 3 pairs" in o.test
    # every lwlrap gain followed by an ASC gain: the finding does not hold
    rising = {0.0: [0.6 + e for e in noise], 0.5: [0.65 - e for e in noise], 0.9: [0.7 + e for e in noise]}
    o = aet_gain_is_not_asc_gain(tagging_points(rising, lwlrap), STATS)
    assert o.verdict == FAILS and [d.verdict for d in o.details] == ["AET gain, ASC gain"] * 3
    # points ordered by lwlrap, not by α: a falling lwlrap is read the other way round
    assert o.details[0].label == "fig2 alpha=0 → alpha=0.5"
    # noisy ASC changes: neither
    noisy = {0.0: [0.7 + 5 * e for e in noise], 0.5: [0.71 - 5 * e for e in noise], 0.9: [0.72 + 5 * e for e in noise]}
    assert aet_gain_is_not_asc_gain(tagging_points(noisy, lwlrap), STATS).verdict == INCONCLUSIVE


def test_the_report_quotes_every_claims_sentence_beside_its_test():
    m = fabricate()
    text = render(m, {}, STATS, evaluate_all(m, STATS))
    section = text.split("## The paper's sentences and their tests")[1]
    for c in CLAIMS:
        assert c.quote, c.number
        assert f"| {c.number} | \"{c.quote}\" |" in section.replace("\\|", "|")


# ------------------------------------------------------------------------ convergence on the gains compared

def test_drift_bounds_are_the_one_sided_95_percent_bounds():
    from scipy import stats as sp
    from aetasc.analysis.convergence import drift_bounds
    moved = [0.01, 0.03, 0.02, 0.015]
    lo, hi = drift_bounds(moved, STATS)
    half = sp.t.ppf(0.95, 3) * np.std(moved, ddof=1) / 2
    assert (lo, hi) == pytest.approx((np.mean(moved) - half, np.mean(moved) + half))


def test_the_study_on_gains_needs_each_gain_to_stop_moving_not_the_arms_means():
    from aetasc.analysis.convergence import study_gain_drifts, study_gain_plateau
    params = make_params()
    study = fabricate_budget(params)      # every arm moves alike: each gain is constant, plateau at 2 -> 4
    assert study_gain_plateau(study, STATS) == 4
    # from 8 to 16 epochs neither arm's mean moves, but per seed the baseline and the joint arm go
    # opposite ways by 1.5 pp: the gain moves 3 pp on some seeds, and its bounds exceed the tolerance
    d = (0.015, -0.015, 0.015, -0.015)
    acc = {("asc", 16): [0.66 + 0.001 * i + x for i, x in enumerate(d)],
           ("joint eq3", 16): [0.66 + 0.001 * i - x for i, x in enumerate(d)]}
    late = fabricate_budget(params, acc=acc)
    mean, lo, hi = study_gain_drifts(late, STATS)["joint eq3"]["16"]
    assert mean == pytest.approx(0.0, abs=1e-9) and hi > 0.03
    assert study_gain_plateau(late, STATS) is None
    assert late["arms"]["asc"]["rise"]["16"]["mean"] == pytest.approx(0.0, abs=1e-9)   # the means do not move
    assert late["plateau_epochs"] == 16                                    # so the means' criterion passes


def test_high_alpha_reads_every_alpha_of_the_range_at_every_size():
    raw = tiny_raw_params()
    world = raw["worlds"]["synthetic"]
    world["seeds"] = [0, 1, 2, 3]
    world["convergence"].update(study_epochs=[2, 4, 8, 16], study_seeds=4)
    world["figures"]["fig2"]["alphas"] = [0.0, 0.5, 0.8, 0.9, 0.95, 1.0]
    world["figures"]["fig3b"]["hours"] = [0.01, 0.02, 0.04]
    world["figures"]["fig4"]["ks"] = [2, 4, 6]
    world["figures"]["sec41"].update(hours=[0.01, 0.02, 0.04], alphas=[0.5, 0.8, 0.9])
    params = parse_params(raw)
    outcome = evaluate(claim("17"), fabricate(params=params), STATS)
    assert outcome.verdict == HOLDS and "a claim of 6 parts" in outcome.test
    assert "every Fig. 3b size is in this grid" in outcome.test
    lost = fabricate(params=params, acc={"sec41": {"T=0.02h alpha=0.8": plus(BASE, GAIN, -1)}})
    assert verdict(lost, "17") == FAILS
