"""Statistics behind the figures and the claims report."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def summarize(values) -> dict:
    """Mean, sample standard deviation (ddof = 1; 0 for one value) and the values."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "per_seed": [float(x) for x in v]}


def _none_if_nan(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def paired_gain(seeds_a, a, seeds_b, b) -> dict:
    """a - b paired by seed, with a one-sided paired t-test of a > b (p_greater)."""
    by_seed = dict(zip(seeds_b, b))
    pairs = [(x, by_seed[s]) for s, x in zip(seeds_a, a) if s in by_seed]
    if not pairs:
        raise ValueError("paired_gain: no seed in common")
    xa, xb = np.array(pairs, dtype=float).T
    out = summarize(xa - xb)
    p = None
    spread = np.ptp(xa - xb)
    if len(pairs) > 1 and spread > 1e-9 * max(1.0, float(np.abs(xa - xb).max())):
        p = _none_if_nan(stats.ttest_rel(xa, xb, alternative="greater").pvalue)
    elif len(pairs) > 1:            # identical differences: the test is degenerate
        p = 0.0 if out["mean"] > 0 else 1.0
    out["p_greater"] = p
    return out


def pearson(x, y) -> dict:
    """Pearson's rho with its two-sided p-value."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"rho": None, "p_value": None, "n": int(len(x))}
    r = stats.pearsonr(x, y)
    return {"rho": float(r.statistic), "p_value": float(r.pvalue), "n": int(len(x))}


def anova(groups: list[list[float]]) -> dict:
    """One-way ANOVA across groups (e.g. event-choice strategies): does the mean depend on the group?"""
    groups = [np.asarray(g, float) for g in groups]
    if len(groups) < 2 or any(len(g) < 2 for g in groups):
        return {"F": None, "p_value": None}
    r = stats.f_oneway(*groups)
    return {"F": _none_if_nan(r.statistic), "p_value": _none_if_nan(r.pvalue)}


def one_sample_gain(values) -> dict:
    """Summary of gains with a one-sided t-test of mean > 0 (p_greater).

    The paired test of values against zeros is the one-sample t-test, so this reuses
    paired_gain and its handling of degenerate (constant) samples.
    """
    idx = list(range(len(values)))
    return paired_gain(idx, list(values), idx, [0.0] * len(values))


def pearson_p(rho: float, n: int) -> float:
    """Two-sided p-value of a Pearson rho over n pairs (t-test with n - 2 d.o.f.)."""
    t = rho * math.sqrt((n - 2) / (1.0 - rho * rho))
    return float(2.0 * stats.t.sf(abs(t), n - 2))
