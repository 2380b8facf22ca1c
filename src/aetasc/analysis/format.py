"""Formatting of numbers and reading of the metrics files, shared by the claims, the report, the
summary and the plots.

Pure functions of metrics values: a plot label and a report cell print the same number the
same way, and a wording change in the claims or the report never reaches the figures.
"""
from __future__ import annotations

import numpy as np

from aetasc.config import StatsParams
from aetasc.stats import (eq3_alpha, equivalence_power, equivalence_seeds_needed, seeds_needed,
                          t_test_power)


# ------------------------------------------------------------------------ numbers

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


def fmt_power(t: dict, s: StatsParams, level: float | None = None) -> str:
    """The effect test's power at its own level (a Bonferroni-corrected one where it has one):
    its MDE and the seeds that detect the paper's effect size."""
    if t["mde"] is None:
        return "n/a (one seed, or no spread)"
    level = s.level if level is None else level
    need = seeds_needed(s.reference_effect, t["std"], level, s.power)
    at = "" if level == s.level else f", level {level:.4f}"
    return (f"MDE {pct(t['mde'])} pp (n = {t['n']}{at}); "
            f"{'> 10000' if need is None else need} seeds for +{pct(s.reference_effect)} pp")


def fmt_equivalence_power(t: dict, s: StatsParams, level: float | None = None, one_sided: bool = False) -> str:
    """The power of an absence's route to *holds*: the chance its test shows the effect inside
    the margin when the true effect is 0, with the seeds and spread observed, and the seeds
    that would give it the report's power. `one_sided`: shown below +margin only (no gain)."""
    if t["std"] is None or not t["std"] > 0:
        return "n/a (one seed, or no spread)"
    level = s.level if level is None else level
    m = s.equivalence_margin
    if one_sided:
        power, need = t_test_power(m, t["std"], t["n"], level), seeds_needed(m, t["std"], level, s.power)
    else:
        power, need = equivalence_power(t["std"], t["n"], m, level), equivalence_seeds_needed(t["std"], m, level, s.power)
    at = "" if level == s.level else f", level {level:.4f}"
    return (f"equivalence route: power {100 * power:.0f} % if truly none (n = {t['n']}{at}); "
            f"{'> 2000' if need is None else need} seeds for {100 * s.power:.0f} %")


# ------------------------------------------------------------------------ reading the metrics files

def point_at(fig: dict, alpha: float) -> str | None:
    """The label of the figure's point trained at `alpha`; None if the grid lacks it."""
    return next((label for label, p in fig["points"].items() if abs(float(p["alpha"]) - alpha) < 1e-9), None)


def rows_by_seed(fig: dict, metric: str, labels: list[str] | None = None) -> tuple[list, list[list[float]]]:
    """(seeds, rows): each row a seed's values over the points (in `labels` order), seeds that all have."""
    labels = labels or list(fig["raw"])
    tables = [dict(zip(fig["raw"][label]["seeds"], fig["raw"][label][metric])) for label in labels]
    seeds = [seed for seed in fig["raw"][labels[0]]["seeds"] if all(seed in t for t in tables)]
    return seeds, [[t[seed] for t in tables] for seed in seeds]


def rho(xs, ys) -> float | None:
    """Pearson ρ of ys against xs; None for fewer than 3 points or a constant side."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def rho_over_means(fig: dict, metric: str) -> float | None:
    """Pearson ρ of the grid points' mean values against x: what the paper's figures show."""
    points = sorted(fig["raw"].values(), key=lambda p: float(p["x"]))
    if any(v is None for p in points for v in p[metric]):
        return None
    return rho([float(p["x"]) for p in points], [float(np.mean(p[metric])) for p in points])


def paired_values(seeds_a, a, seeds_b, b) -> list[float]:
    """a - b per seed, for the seeds both have."""
    by_seed = dict(zip(seeds_b, b))
    return [x - by_seed[seed] for seed, x in zip(seeds_a, a) if seed in by_seed]


def loss_ratios(base: dict) -> list[float]:
    """L*_ASC / L*_AET per seed, pairing the two baselines' runs by seed."""
    asc, aet = base["raw"]["asc"], base["raw"]["aet"]
    l_aet = dict(zip(aet["seeds"], aet["loss_aet"]))
    return [la / l_aet[s] for s, la in zip(asc["seeds"], asc["loss_asc"]) if s in l_aet]


def eq3_alphas(base: dict) -> list[float]:
    """Eq. 3's alpha per seed, from each seed's pair of baseline losses."""
    asc, aet = base["raw"]["asc"], base["raw"]["aet"]
    l_aet = dict(zip(aet["seeds"], aet["loss_aet"]))
    return [eq3_alpha(la, l_aet[s]) for s, la in zip(asc["seeds"], asc["loss_asc"]) if s in l_aet]
