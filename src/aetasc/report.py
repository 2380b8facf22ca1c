"""The claims report: each claim of the paper, the paper's number, ours, and a verdict.

Verdicts are computed from the metrics files by the rules in RULES, never written by
hand; a claim whose metrics file is missing is reported as "not measured".
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .stats import anova, one_sample_gain, paired_gain, pearson, pearson_p

FILES = ("baselines", "fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "ranking")
JOINT_FIGURES = ("fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers")

LEVEL = 0.05                     # significance level of every test
HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED = "holds", "does not hold", "inconclusive", "not measured"
PAPER_LOSS_RATIO = 20.0          # L*_ASC / L*_AET at convergence (Sec. 4.1)
LOSS_RATIO_RANGE = (10.0, 40.0)  # within a factor 2 of the paper's ratio
PAPER_ALPHA = 0.95
ALPHA_TOLERANCE = 0.025
PAPER_RHO_K = (0.24, 8 * 4)      # Fig. 4: rho over 8 values of k x 4 seeds

RULES = f"""\
- Significance level {LEVEL} for every test; p-values of t-tests are one-sided, in the claimed direction.
- **"beats the baseline"**: paired by seed, gain = MTL accuracy - ASC baseline accuracy.
  *holds* if the one-sided paired t-test gives p < {LEVEL}; *does not hold* if the mean gain is <= 0;
  *inconclusive* otherwise (right direction, p >= {LEVEL}).
- **"A is better than B"** (no baseline): *holds* if the one-sided paired t-test of A > B gives
  p < {LEVEL}; *does not hold* if the test of B > A gives p < {LEVEL}; *inconclusive* otherwise.
- **"grows with"** (Pearson rho over the (x, value) pairs of all seeds, two-sided p): *holds* if
  rho > 0 and p < {LEVEL}; *does not hold* if rho < 0 and p < {LEVEL}; *inconclusive* otherwise.
- **"no dependence"** (one-way ANOVA across groups of per-seed values): *holds* if p >= {LEVEL}, i.e. no
  significant difference was found (absence of evidence, not proof of equality); *does not hold* if p < {LEVEL}.
- **"approximately equals"** (a number per seed compared with a tolerance band): *holds* if every seed lies
  in the band; *does not hold* if none does; *inconclusive* otherwise.
- A claim made of several parts (e.g. "each strategy beats the baseline"): *does not hold* if any part does
  not hold, *holds* if all hold, *inconclusive* otherwise.
- A test that cannot be computed (one seed; fewer than three pairs or a constant variable for Pearson)
  has no p-value: the claim is then *inconclusive*, unless a rule above already says *does not hold*.
"""


# ------------------------------------------------------------------------ verdict rules

def verdict_beats(gain: dict) -> str:
    """A gain over the baseline (paired_gain's output)."""
    if gain["mean"] <= 0:
        return FAILS
    p = gain.get("p_greater")
    return HOLDS if p is not None and p < LEVEL else INCONCLUSIVE


def verdict_greater(p_greater: float | None, p_less: float | None) -> str:
    """A > B from the one-sided p-values of both directions."""
    if p_greater is not None and p_greater < LEVEL:
        return HOLDS
    if p_less is not None and p_less < LEVEL:
        return FAILS
    return INCONCLUSIVE


def verdict_positive_correlation(corr: dict) -> str:
    rho, p = corr.get("rho"), corr.get("p_value")
    if rho is None or p is None or p >= LEVEL:
        return INCONCLUSIVE
    return HOLDS if rho > 0 else FAILS


def verdict_no_difference(result: dict) -> str:
    p = result.get("p_value")
    if p is None:
        return INCONCLUSIVE
    return HOLDS if p >= LEVEL else FAILS


def verdict_within(values: list[float], lo: float, hi: float) -> str:
    inside = [lo <= v <= hi for v in values]
    if inside and all(inside):
        return HOLDS
    return FAILS if not any(inside) else INCONCLUSIVE


def verdict_all(verdicts: list[str]) -> str:
    if not verdicts or NOT_MEASURED in verdicts:
        return NOT_MEASURED
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE


# ------------------------------------------------------------------------ formatting

def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def pct_summary(s: dict) -> str:
    return f"{pct(s['mean'])} ± {pct(s['std'])} %"


def signed(x: float) -> str:
    """A fraction as signed percentage points; rounding noise never shows as -0.0."""
    return f"{round(100 * x, 1) + 0.0:+.1f}"


def pp(s: dict) -> str:
    """A gain summary in percentage points."""
    return f"{signed(s['mean'])} ± {pct(s['std'])} pp"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def fmt_rho(corr: dict) -> str:
    if corr.get("rho") is None:
        return f"ρ undefined (n = {corr.get('n')})"
    return f"ρ = {corr['rho']:.2f}, {fmt_p(corr['p_value'])} (n = {corr['n']})"


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
    details: tuple[Detail, ...] = ()


@dataclass(frozen=True)
class Claim:
    number: str
    text: str
    source: str
    paper: str
    needs: tuple[str, ...]
    evaluate: Callable[[dict], Outcome]


def _gain_detail(label: str, gain: dict) -> Detail:
    return Detail(label, f"{pp(gain)}, {fmt_p(gain.get('p_greater'))}", verdict_beats(gain))


def _greater(seeds_a, a, seeds_b, b) -> tuple[dict, str]:
    """Paired difference a - b and the verdict of "a is greater than b"."""
    diff = paired_gain(seeds_a, a, seeds_b, b)
    reverse = paired_gain(seeds_b, b, seeds_a, a)
    return diff, verdict_greater(diff["p_greater"], reverse["p_greater"])


def _point_at(fig: dict, alpha: float) -> str | None:
    return next((label for label, p in fig["points"].items() if abs(float(p["alpha"]) - alpha) < 1e-9), None)


def _all_beat(fig: dict, what: str) -> Outcome:
    """Each point of a figure beats the ASC baseline."""
    gains = {label: p["gain"] for label, p in fig["points"].items()}
    details = tuple(_gain_detail(label, g) for label, g in gains.items())
    means = [g["mean"] for g in gains.values()]
    return Outcome(f"gains {signed(min(means))} to {signed(max(means))} pp over {len(gains)} points",
                   verdict_all([d.verdict for d in details]),
                   f"one-sided paired t-test of each {what} vs the baseline; all must hold", details)


def mtl_beats_baseline_near_one(m: dict) -> Outcome:
    fig = m["fig2"]
    labels = [label for label, p in fig["points"].items() if 0.8 - 1e-9 <= float(p["alpha"]) < 1.0 - 1e-9]
    if not labels:
        return Outcome("—", NOT_MEASURED, "the α grid has no value in [0.8, 1)")
    pooled = [g for label in labels for g in fig["points"][label]["gain"]["per_seed"]]
    test = one_sample_gain(pooled)
    alphas = ", ".join(f"{float(fig['points'][label]['alpha']):g}" for label in labels)
    return Outcome(f"{pp(test)} pooled, {fmt_p(test['p_greater'])}", verdict_beats(test),
                   f"one-sided t-test of the per-seed gains pooled over α ∈ {{{alphas}}} (n = {len(pooled)}; "
                   "the gains of one seed share its baseline run, so p is optimistic); per α below",
                   tuple(_gain_detail(label, fig["points"][label]["gain"]) for label in labels))


def _loss_ratios(base: dict) -> list[float]:
    """L*_ASC / L*_AET per seed, pairing the two baselines' runs by seed."""
    asc, aet = base["raw"]["asc"], base["raw"]["aet"]
    l_aet = dict(zip(aet["seeds"], aet["loss_aet"]))
    return [la / l_aet[s] for s, la in zip(asc["seeds"], asc["loss_asc"]) if s in l_aet]


def loss_ratio(m: dict) -> Outcome:
    ratios = _loss_ratios(m["baselines"])
    lo, hi = LOSS_RATIO_RANGE
    return Outcome(f"L\\*_ASC / L\\*_AET = {m['baselines']['loss_ratio']:.1f} "
                   f"(per seed {min(ratios):.1f} to {max(ratios):.1f})",
                   verdict_within(ratios, lo, hi),
                   f"per-seed ratio of the baselines' last-epoch training losses within [{lo:g}, {hi:g}] "
                   "(a factor 2 of 20)")


def eq3_alpha(m: dict) -> Outcome:
    alphas = [r / (1.0 + r) for r in _loss_ratios(m["baselines"])]
    lo, hi = PAPER_ALPHA - ALPHA_TOLERANCE, PAPER_ALPHA + ALPHA_TOLERANCE
    return Outcome(f"α = {m['baselines']['eq3_alpha']:.3f} (per seed {min(alphas):.3f} to {max(alphas):.3f})",
                   verdict_within(alphas, lo, hi),
                   f"per-seed Eq. 3 α = L\\*_ASC / (L\\*_ASC + L\\*_AET) within [{lo:.3f}, {hi:.3f}]")


def tagging_is_not_scene(m: dict) -> Outcome:
    fig = m["fig2"]
    half, zero = _point_at(fig, 0.5), _point_at(fig, 0.0)
    if half is None or zero is None:
        return Outcome("—", NOT_MEASURED, "the α grid lacks 0 or 0.5")
    raw_half, raw_zero = fig["raw"][half], fig["raw"][zero]
    if None in raw_half["lwlrap"] + raw_zero["lwlrap"]:
        return Outcome("—", NOT_MEASURED, "no lwlrap at α = 0 or 0.5")
    diff, tagging = _greater(raw_half["seeds"], raw_half["lwlrap"], raw_zero["seeds"], raw_zero["lwlrap"])
    gain = fig["points"][half]["gain"]
    p_scene = gain.get("p_greater")
    if tagging == FAILS or (p_scene is not None and p_scene < LEVEL):
        verdict = FAILS
    elif tagging == HOLDS and p_scene is not None:
        verdict = HOLDS
    else:
        verdict = INCONCLUSIVE
    lw = fig["points"]
    return Outcome(f"lwlrap {pct_summary(lw[half]['lwlrap'])} at α = 0.5 vs {pct_summary(lw[zero]['lwlrap'])} "
                   f"at α = 0 ({fmt_p(diff['p_greater'])}); ASC gain at α = 0.5: {pp(gain)}, {fmt_p(p_scene)}",
                   verdict,
                   f"holds if lwlrap(0.5) > lwlrap(0) (one-sided paired t-test, p < {LEVEL}) and the ASC gain at "
                   f"α = 0.5 is not significant (p >= {LEVEL}); does not hold if lwlrap is significantly lower "
                   "or the ASC gain significant")


def strategies_beat(m: dict) -> Outcome:
    return _all_beat(m["fig3a"], "strategy")


def no_strategy_dependence(m: dict) -> Outcome:
    raw = m["fig3a"]["raw"]
    result = anova([raw[label]["asc_accuracy"] for label in raw])
    ours = "F undefined" if result["F"] is None else f"F = {result['F']:.2f}, {fmt_p(result['p_value'])}"
    return Outcome(ours, verdict_no_difference(result),
                   f"one-way ANOVA of ASC accuracy across {len(raw)} strategies; tests for the absence of a "
                   "significant difference")


def sizes_beat(m: dict) -> Outcome:
    return _all_beat(m["fig3b"], "size T")


def _correlation(corr: dict, what: str) -> Outcome:
    return Outcome(fmt_rho(corr), verdict_positive_correlation(corr),
                   f"Pearson ρ of {what} over all seeds, two-sided p")


def accuracy_grows_with_hours(m: dict) -> Outcome:
    return _correlation(m["fig3b"]["pearson"], "(T, ASC accuracy)")


def raw_correlation(fig: dict, metric: str) -> dict:
    """Pearson rho of (x, metric) over all seeds of all points, as aggregate() computes it."""
    pairs = [(float(p["x"]), v) for p in fig["raw"].values() for v in p[metric] if v is not None]
    return pearson([x for x, _ in pairs], [v for _, v in pairs])


def lwlrap_grows_with_hours(m: dict) -> Outcome:
    return _correlation(raw_correlation(m["fig3b"], "lwlrap"), "(T, lwlrap)")


def lwlrap_grows_with_alpha(m: dict) -> Outcome:
    return _correlation(raw_correlation(m["fig2"], "lwlrap"), "(α, lwlrap)")


def two_events_beat(m: dict) -> Outcome:
    fig = m["fig4"]
    label = next((label for label, p in fig["points"].items() if float(p["x"]) == 2), None)
    if label is None:
        return Outcome("—", NOT_MEASURED, "the k grid has no k = 2")
    gain = fig["points"][label]["gain"]
    return Outcome(f"{pp(gain)}, {fmt_p(gain.get('p_greater'))}", verdict_beats(gain),
                   "one-sided paired t-test of k = 2 vs the baseline")


def accuracy_grows_with_k(m: dict) -> Outcome:
    return _correlation(m["fig4"]["pearson"], "(k, ASC accuracy)")


def both_frameworks_beat(m: dict) -> Outcome:
    return _all_beat(m["fig5"], "framework")


def joint_beats_pretraining(m: dict) -> Outcome:
    raw = m["fig5"]["raw"]
    joint, pre = raw["joint"], raw["pretrain+finetune"]
    diff, verdict = _greater(joint["seeds"], joint["asc_accuracy"], pre["seeds"], pre["asc_accuracy"])
    return Outcome(f"joint - pre-train: {pp(diff)}, {fmt_p(diff['p_greater'])}", verdict,
                   "one-sided paired t-test of joint > pre-train+fine-tune, paired by seed")


def joint_points(m: dict) -> list[tuple[str, str, dict]]:
    """(figure, label, gain) of every point trained jointly (0 < α < 1)."""
    return [(name, label, p["gain"]) for name in JOINT_FIGURES if m.get(name)
            for label, p in m[name]["points"].items() if 0 < float(p["alpha"]) < 1 and "gain" in p]


def largest_gain(m: dict) -> Outcome:
    points = joint_points(m)
    if not points:
        return Outcome("—", NOT_MEASURED, "no figure with joint-training points has run")
    name, label, gain = max(points, key=lambda t: t[2]["mean"])
    level = LEVEL / len(points)
    p = gain.get("p_greater")
    verdict = FAILS if gain["mean"] <= 0 else HOLDS if p is not None and p < level else INCONCLUSIVE
    missing = [f for f in JOINT_FIGURES if not m.get(f)]
    return Outcome(f"{pp(gain)} at {name} {label}, {fmt_p(p)}", verdict,
                   f"largest mean gain over {len(points)} joint-training points (0 < α < 1); one-sided paired "
                   f"t-test at p < {level:.4f} (Bonferroni for choosing the best of {len(points)})"
                   + (f"; not run: {', '.join(missing)}" if missing else ""))


def aet_beats_regularizers(m: dict) -> Outcome:
    raw = m["regularizers"]["raw"]
    aet = raw["aet"]
    details, ours = [], []
    for other in ("dropout", "mixup", "specaugment"):
        diff, verdict = _greater(aet["seeds"], aet["asc_accuracy"], raw[other]["seeds"], raw[other]["asc_accuracy"])
        details.append(Detail(f"aet vs {other}", f"{pp(diff)}, {fmt_p(diff['p_greater'])}", verdict))
        ours.append(f"vs {other} {pp(diff)}")
    return Outcome("aet " + "; ".join(ours),
                   verdict_all([d.verdict for d in details]),
                   "one-sided paired t-test of AET-only regularization (joint, no other regularizer) > each "
                   "single regularizer (ASC only); all must hold", tuple(details))


CLAIMS = (
    Claim("1", "MTL beats the ASC baseline for α ∈ [0.8, 1.0)", "Fig. 2", "above baseline",
          ("fig2",), mtl_beats_baseline_near_one),
    Claim("2", "At convergence L\\*_AET ≈ L\\*_ASC / 20", "Sec. 4.1", "L\\*_ASC / L\\*_AET ≈ 20",
          ("baselines",), loss_ratio),
    Claim("3", "Eq. 3 gives α ≈ 0.95", "Eq. 3", "α = 0.95", ("baselines",), eq3_alpha),
    Claim("4", "Better event tagging does not mean better scene classification", "Fig. 2",
          "lwlrap ≈ 76 % at α = 0.5, ≈ 10 % at α = 0; ASC not above baseline at 0.5",
          ("fig2",), tagging_is_not_scene),
    Claim("5", "Each event-choice strategy beats the baseline", "Fig. 3a", "all above baseline",
          ("fig3a",), strategies_beat),
    Claim("6", "ASC accuracy does not depend on the choice of events", "Fig. 3a", "no dependence",
          ("fig3a",), no_strategy_dependence),
    Claim("7", "Every AET data size T beats the baseline", "Fig. 3b", "all above baseline",
          ("fig3b",), sizes_beat),
    Claim("8", "ASC accuracy grows with T", "Fig. 3b", "ρ = 0.89", ("fig3b",), accuracy_grows_with_hours),
    Claim("9", "Even k = 2 (the two most abundant events) beats the baseline", "Fig. 4", "above baseline",
          ("fig4",), two_events_beat),
    Claim("10", "ASC accuracy has a weak positive correlation with k", "Fig. 4",
          f"ρ = {PAPER_RHO_K[0]} ({fmt_p(pearson_p(*PAPER_RHO_K))} for {PAPER_RHO_K[1]} pairs)",
          ("fig4",), accuracy_grows_with_k),
    Claim("11", "Both pre-train + fine-tune and joint training beat the baseline", "Fig. 5",
          "both above baseline", ("fig5",), both_frameworks_beat),
    Claim("12", "Joint training is marginally better than pre-train + fine-tune", "Fig. 5",
          "joint > pre-train", ("fig5",), joint_beats_pretraining),
    Claim("13", "Up to +5 % ASC accuracy over the baseline", "Sec. 1", "+5 pp", (), largest_gain),
    Claim("14", "AET is a stronger regularizer than MixUp, Dropout and SpecAugment", "Sec. 1, 4.1",
          "stated, not plotted", ("regularizers",), aet_beats_regularizers),
    Claim("15", "Event lwlrap grows with T", "Fig. 3b", "lwlrap increases", ("fig3b",), lwlrap_grows_with_hours),
    Claim("16", "Event lwlrap grows with α", "Fig. 2", "lwlrap increases", ("fig2",), lwlrap_grows_with_alpha),
)


def evaluate(claim: Claim, metrics: dict) -> Outcome:
    missing = [name for name in claim.needs if metrics.get(name) is None]
    if missing:
        return Outcome("—", NOT_MEASURED, "missing " + ", ".join(f"{n}.json" for n in missing))
    unpaired = [name for name in claim.needs if name != "baselines" and metrics[name].get("baseline") is None]
    if unpaired:   # trained before the baselines existed: no gains to test
        return Outcome("—", NOT_MEASURED, "no ASC baseline in " + ", ".join(f"{n}.json" for n in unpaired))
    return claim.evaluate(metrics)


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
    for name in FILES[:-1]:
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


def render(metrics: dict, digests: dict, folder_label: str = "metrics") -> str:
    outcomes = [(c, evaluate(c, metrics)) for c in CLAIMS]
    lines = ["# Claims of Parikh et al. (Interspeech 2022) against our measurements", ""]
    lines += provenance(metrics, digests, folder_label) + [""]
    lines += ranking_lines(metrics.get("ranking")) + [""]
    lines += ["## Claims", ""]
    lines += _table(["#", "Claim", "Where", "Paper", "Ours", "Verdict", "Test"],
                    [[c.number, c.text, c.source, c.paper, o.ours, f"**{o.verdict}**", o.test]
                     for c, o in outcomes])
    counts = {v: sum(o.verdict == v for _, o in outcomes) for v in (HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED)}
    lines += ["", "Summary: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".", ""]
    lines += ["## Verdict rules", "", RULES.rstrip(), ""]
    detailed = [(c, o) for c, o in outcomes if o.details]
    if detailed:
        lines += ["## Details", ""]
        for c, o in detailed:
            lines += [f"### Claim {c.number}: {c.text} ({c.source})", ""]
            lines += _table(["Point", "Ours", "Verdict"], [[d.label, d.ours, d.verdict] for d in o.details])
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
