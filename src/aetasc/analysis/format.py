"""Formatting of numbers and reading of the metrics files, shared by the claims, the report, the
summary and the plots.

Pure functions of metrics values: a plot label and a report cell print the same number the
same way, and a wording change in the claims or the report never reaches the figures.
"""
from __future__ import annotations

import numpy as np

from aetasc.config import StatsParams
from aetasc.stats import seeds_needed


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


def fmt_power(t: dict, s: StatsParams) -> str:
    if t["mde"] is None:
        return "n/a (one seed, or no spread)"
    need = seeds_needed(s.reference_effect, t["std"], s.level, s.power)
    return (f"MDE {pct(t['mde'])} pp (n = {t['n']}); "
            f"{'> 10000' if need is None else need} seeds for +{pct(s.reference_effect)} pp")


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


def loss_ratios(base: dict) -> list[float]:
    """L*_ASC / L*_AET per seed, pairing the two baselines' runs by seed."""
    asc, aet = base["raw"]["asc"], base["raw"]["aet"]
    l_aet = dict(zip(aet["seeds"], aet["loss_aet"]))
    return [la / l_aet[s] for s, la in zip(asc["seeds"], asc["loss_asc"]) if s in l_aet]


def eq3_alphas(base: dict) -> list[float]:
    """Eq. 3's alpha per seed, L*_ASC / (L*_ASC + L*_AET) = ratio / (1 + ratio)."""
    return [r / (1.0 + r) for r in loss_ratios(base)]
