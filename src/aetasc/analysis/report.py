"""The claims report as Markdown: each claim of the paper, the paper's number, ours, and a
verdict, with the provenance, the training budget, convergence and the verdict rules in words.

Verdicts are computed from the metrics files (aetasc.analysis.claims, by the rules of
aetasc.analysis.rules), never written by hand; this module only lays them out. Every row shows
a confidence interval (naming its level where it is not the report's), and every effect test
shows its power: the minimum effect it detects with the seeds and the spread observed, and the
seeds that would detect the paper's effect size.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from aetasc.config import StatsParams
from aetasc.analysis.claims import FIGURE_FILES, FILES, Claim, Outcome, is_fragile
from aetasc.analysis.convergence import study_gain_drifts, study_gain_plateau
from aetasc.analysis.format import confidence_label, pct, pct_summary, signed
from aetasc.analysis.rules import FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURED, UNREACHABLE
from aetasc.stats import eq3_alpha


def verdict_rules_text(s: StatsParams) -> str:
    """The rules of aetasc.analysis.rules in words, for the report's "Verdict rules" section."""
    m = signed(s.equivalence_margin).lstrip("+")
    return f"""\
- Every test works on one value per seed: a gain is MTL minus the ASC baseline of the same seed; a
  claim over several grid points tests each point (a claim of several parts). Tests are t-tests on the
  per-seed values (n = seeds), at level {s.level}; intervals are two-sided
  {confidence_label(1 - s.level)}s, except where the interval column names another level (a Bonferroni-corrected one).
- **The margin** of ±{m} pp is the smallest difference in ASC accuracy the report treats as real: the
  size the paper itself calls marginal (joint training "marginally better" than pre-training; "little"
  influence of k past 35) and the budget criterion's tolerance, so that a difference the training budget
  can still move is never read as a finding (docs/results.md, "The margin").
- **A claimed effect** ("beats the baseline", "A is better than B", "grows with"): *holds* if the
  one-sided test in the claimed direction gives p < {s.level}; *does not hold* if the test in the other
  direction does, or if the two one-sided tests show the effect within ±{m} pp (equivalence); *inconclusive*
  otherwise. "Grows with x" is tested on each seed's fitted change across the grid (slope × range of x).
- **A claimed absence** ("does not translate to", "uncorrelated with", "not sensitive to", and "weak" or
  "marginal", read as an effect inside the margin): *holds* only if the two one-sided tests show the
  difference within ±{m} pp (for several conditions: every pair, Bonferroni-corrected); *does not hold*
  only if a difference beyond ±{m} pp is shown (the one-sided test of |difference| > {m} pp, at the same
  level); *inconclusive* otherwise. A significant difference inside the margin does not refute an
  absence, and not finding a difference is never reported as its absence. Each absence shows the power of
  its route to *holds* when the true difference is none, with the seeds and spread observed, and the seeds
  that would give it {s.power:.0%} power: an absence can be true and still *inconclusive*.
- **"approximately equals"** (a band around the paper's number): *holds* if the confidence interval of the
  mean lies inside the band, *does not hold* if it lies outside, *inconclusive* otherwise. Claim 2
  reads *unreachable here* instead of *does not hold* where the floors MixUp's soft targets put under
  the losses cap L\\*_ASC / L\\*_AET, at the L\\*_ASC measured, below the paper's 20: no run of this world
  could show it.
- **"up to +5 %"**, read strictly: some point trained at the protocol's α (that of Figs 3a, 3b and 4)
  gains at least +5 pp: each distinct such point (a point two figures share, i.e. the same runs, counts
  once) gets an interval at level {s.level} / m, m the number of those points (Bonferroni, all m hold
  together with {100 * (1 - s.level):.0f} % confidence). *Holds* if some lower bound is at or above +5 pp,
  *does not hold* if every upper bound is below +5 pp, *inconclusive* otherwise. The looser reading (over
  every joint point, any α: some interval above 0 whose upper bound reaches +5 pp) is shown beside it.
- **A claim made of several parts** (each point, framework or comparison must hold): *holds* if every part
  holds at level {s.level} on its own (the claim is false as soon as one part is false, so this errs no more
  often than one part's test: no correction is needed); *does not hold* if some part does not hold after
  Holm's correction over the parts (each part's p-value against it, i.e. of the test that shows it does not
  hold, adjusted by Holm's step-down method, below {s.level}: the chance of wrongly failing any part stays
  below {s.level}); *inconclusive* otherwise. With one seed, or identical values, no test can be computed:
  *inconclusive*.
- **Power**, at each test's own level (the Bonferroni-corrected one where the test has it): MDE is the
  smallest true effect the one-sided test detects with probability {s.power}, given the seeds and the
  per-seed spread observed; "seeds for +{pct(s.reference_effect)} pp" is how many seeds would detect the
  paper's effect size with that spread. A row with MDE above the effect the paper reports cannot decide it:
  *inconclusive* there means "too few seeds", not "no effect".
- Correlations are reported over the grid means (what the paper's figures plot, like its ρ) and as the
  mean of the per-seed ρ; the paper states no p-values for them and none is invented.
"""


def sentences_lines(outcomes: list[tuple[Claim, Outcome]]) -> list[str]:
    """Each claim's sentence in the paper beside the test that reads it."""
    return ["## The paper's sentences and their tests", "",
            *_table(["#", "The paper", "Our test"], [[c.number, f"\"{c.quote}\"", o.test] for c, o in outcomes]),
            ""]


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
            out.append((int(p["x"]), l_aet, eq3_alpha(l_asc, l_aet)))
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


def budget_lines(metrics: dict, stats: StatsParams) -> list[str]:
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
    for label, moved in study_gain_drifts(study, stats).items():
        rows.append([f"gain of {label} over asc: moved by doubling (pp, one-sided 95 % bounds)", "—"] +
                    [f"{signed(m)} [{signed(lo)}, {signed(hi)}]" + ("" if -tol < lo and hi < tol else " ▲")
                     for m, lo, hi in (moved[str(b)] for b in budgets[1:])])
    lines += _table(header, rows) + [""]
    gain_plateau = study_gain_plateau(study, stats)
    lines += [f"**On the gains the claims compare** (each arm's gain over the ASC baseline, paired by seed: both "
              f"one-sided 95 % bounds of its movement within ±{pct(tol)} pp, and Eq. 3's α as above): "
              + ("no budget of the study meets it" if gain_plateau is None else f"the plateau is at "
                 f"**{gain_plateau} epochs**") + (f"; the figures train for {epochs}." if epochs else "."), ""]
    plateau = study["plateau_epochs"]
    if plateau is None:
        verdict = (f"no budget of the study meets the criterion (▲: at or above the tolerance): the runs have "
                   f"not converged by {budgets[-1]} epochs; the figures' {epochs} epochs are not shown to converge.")
    elif epochs is not None and epochs >= plateau:
        verdict = f"the plateau is at **{plateau} epochs**; the figures train for {epochs}: at or past it."
    else:
        verdict = (f"the plateau is at **{plateau} epochs**, but the figures train for {epochs}: **below the "
                   "plateau**; set the world's `epochs` to it.")
    return lines + ["Study, on the arms' means: " + verdict, ""]


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
            f"less than {pct(tol)} pp from epoch {frm} to epoch {to} of its own runs (the table below). A claim is "
            "judged on what it compares: each quantity it reads (a point's gain over the ASC baseline, paired by "
            "seed, where it tests gains; a point's ASC accuracy or lwlrap otherwise) has converged when both "
            f"one-sided 95 % bounds of its per-seed movement over those epochs lie within ±{pct(tol)} pp. A claim "
            "whose quantities still move is held back (*inconclusive*, the verdict its numbers would give in "
            "\"Ours\") only when the movement still allowed could change its verdict: it is evaluated again with "
            "each moving quantity shifted by either bound, every combination, and decided when all give its "
            "verdict (\"moving, cannot change the verdict\" in the \"Converged\" column). Eq. 3's α, where its "
            f"points trained at that α, must move by less than {tol:g}. \"At half budget\" in the claims table "
            f"is each claim evaluated on the same runs after {frm} epochs, before the convergence rule (the "
            "verdict those numbers would give), and a claim is **fragile** when it differs from the full "
            "budget's verdict before the same rule (\"would be\" in \"Ours\" where the rule held the claim "
            "back).", "",
            *_table(["Figure", "Converged", "Points converged", "Largest rise", "Not converged"], rows), "",
            *alpha_line]


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
    if any(o.verdict == UNREACHABLE for _, o in outcomes):
        counts[UNREACHABLE] = sum(o.verdict == UNREACHABLE for _, o in outcomes)
    fragile = [c.number for c, o in outcomes if is_fragile(o)]
    unconverged = [c.number for c, o in outcomes if o.converged.startswith("no")]
    lines += ["", "Summary: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + "; "
              + (f"fragile (another verdict at half the budget): claims {', '.join(fragile)}" if fragile
                 else "no verdict changes at half the budget")
              + "; " + (f"on runs not converged: claims {', '.join(unconverged)}" if unconverged
                        else "every decided claim rests on converged runs") + ".", ""]
    lines += budget_lines(metrics, stats)
    lines += convergence_lines(metrics)
    lines += loss_scale_lines(metrics)
    lines += ["## Verdict rules", "", verdict_rules_text(stats).rstrip(), ""]
    lines += sentences_lines(outcomes)
    detailed = [(c, o) for c, o in outcomes if o.details]
    if detailed:
        lines += ["## Details", ""]
        for c, o in detailed:
            lines += [f"### Claim {c.number}: {c.text} ({c.source})", ""]
            lines += _table(["Point", "Ours", "Verdict"], [[d.label, d.ours, d.verdict] for d in o.details])
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
