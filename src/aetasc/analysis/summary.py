"""metrics/summary.json: the few dozen numbers a reviewer compares between runs.

It is the pipeline's only DVC metrics file, so `dvc metrics diff` and `dvc exp show` list
these numbers and nothing else: flat keys of letters, digits and underscores (DVC reads a
dot as nesting), numbers only, percentages rounded to PRECISION. The per-figure JSON files
keep every per-seed value and statistic.
"""
from __future__ import annotations

import re

import numpy as np

from aetasc.config import StatsParams
from aetasc.io import percent
from aetasc.analysis.claims import Claim, Outcome, is_fragile, per_seed_test
from aetasc.analysis.format import loss_ratios
from aetasc.analysis.rules import FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURED, UNREACHABLE

PRECISION = 2            # decimals of a percentage (0.01 pp); 4 decimals for ratios and alpha
FIGURES = ("fig2", "fig3a", "fig3b", "fig4", "fig5", "regularizers", "sec41")


def key(*parts: str) -> str:
    """A flat metrics key: "fig2", "alpha=0.5" -> "fig2_alpha_0p5" (no dots, no symbols)."""
    text = "_".join(parts).replace(".", "p")
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_")


def _pct(x: float | None) -> float | None:
    return None if x is None else percent(x, PRECISION)


def _mean_and_ci(prefix: str, values: list[float], s: StatsParams) -> dict:
    t = per_seed_test(values, s)
    lo, hi = t["ci"] if t["ci"] is not None else (None, None)
    return {f"{prefix}_mean": _pct(t["mean"]), f"{prefix}_ci_low": _pct(lo), f"{prefix}_ci_high": _pct(hi)}


def summarize(metrics: dict, s: StatsParams, outcomes: list[tuple[Claim, Outcome]]) -> dict:
    """The flat summary of a metrics folder loaded by claims.load_metrics, with the verdict
    counts of its claims' outcomes (claims.evaluate_all)."""
    out: dict[str, float | int | None] = {}
    base = metrics.get("baselines")
    if base is not None:
        out.update(_mean_and_ci("baseline_asc_accuracy", base["raw"]["asc"]["asc_accuracy"], s))
        out["baseline_aet_lwlrap_mean"] = _pct(float(np.mean(base["raw"]["aet"]["lwlrap"])))
        # one name per statistic: baselines.json's loss_ratio and eq3_alpha are of the means over
        # seeds (the α the figures trained at); the claim tests the mean of the per-seed ratios
        out["loss_ratio"] = round(float(base["loss_ratio"]), 4)
        out["eq3_alpha"] = round(float(base["eq3_alpha"]), 4)
        out["loss_ratio_mean_over_seeds"] = round(float(np.mean(loss_ratios(base))), 4)
    ranking = metrics.get("ranking")
    if ranking is not None:
        if ranking.get("tagger_lwlrap") is not None:
            out["ranking_tagger_lwlrap"] = _pct(ranking["tagger_lwlrap"])
        if "precision_at_scene_events" in ranking:
            out["ranking_precision_at_scene_events"] = _pct(ranking["precision_at_scene_events"])
    for name in FIGURES:
        fig = metrics.get(name)
        if fig is None:
            continue
        for label, raw in fig["raw"].items():
            out.update(_mean_and_ci(key(name, label, "asc_accuracy"), raw["asc_accuracy"], s))
            if name == "fig2" and None not in raw["lwlrap"]:
                out[key(name, label, "lwlrap_mean")] = _pct(float(np.mean(raw["lwlrap"])))
    verdicts = [o.verdict for _, o in outcomes]
    for verdict in (HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED, UNREACHABLE):
        out[key("claims", verdict)] = sum(v == verdict for v in verdicts)
    out["claims_fragile"] = sum(is_fragile(o) for _, o in outcomes)
    out["claims_on_unconverged_runs"] = sum(o.converged.startswith("no") for _, o in outcomes)
    study = metrics.get("budget")
    if study is not None:
        out["budget_plateau_epochs"] = study["plateau_epochs"]
        out["epochs"] = study["epochs"]
    return {k: v for k, v in out.items() if v is not None}
