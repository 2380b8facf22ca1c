"""Statistics behind the figures and the claims report."""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats


def summarize(values) -> dict:
    """Mean, sample standard deviation (ddof = 1; 0 for one value) and the values."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "per_seed": [float(x) for x in v]}


def paired_gain(seeds_a, a, seeds_b, b) -> dict:
    """a - b paired by seed, with mean_test's one-sided p-value of a > b (p_greater)."""
    by_seed = dict(zip(seeds_b, b))
    pairs = [(x, by_seed[s]) for s, x in zip(seeds_a, a) if s in by_seed]
    if not pairs:
        raise ValueError("paired_gain: no seed in common")
    xa, xb = np.array(pairs, dtype=float).T
    return {**summarize(xa - xb), "p_greater": mean_test(xa - xb)["p_greater"]}


def mean_test(values, level: float = 0.05, margin: float = 0.02, power: float = 0.8) -> dict:
    """Inference on the mean of per-seed values (paired differences, or per-seed effects).

    mean, std, n; a two-sided (1 - level) confidence interval; one-sided t-test p-values of
    mean > 0 (p_greater) and mean < 0 (p_less); the two one-sided tests of equivalence,
    |mean| < margin (p_equivalent: the larger of the two p-values); and the minimum
    detectable effect of the one-sided test at this level and power with the observed
    standard deviation. With one value nothing but the mean is computed; identical values
    make the interval that value and each test certain (p 0 or 1), with no MDE.
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    out = {"n": n, "mean": float(v.mean()) if n else None,
           "std": float(v.std(ddof=1)) if n > 1 else None,
           "ci": None, "p_greater": None, "p_less": None, "p_equivalent": None, "mde": None}
    if n < 2:
        return out
    tiny = 1e-12 * max(1.0, float(np.abs(v).max()))
    if out["std"] <= tiny:
        # every seed gives the same value: the interval is that value, the tests are certain
        m = 0.0 if abs(out["mean"]) <= tiny else out["mean"]      # rounding noise is no effect
        out.update(ci=[m, m], p_greater=float(m <= 0), p_less=float(m >= 0),
                   p_equivalent=float(abs(m) >= margin))
        return out
    se, df = out["std"] / math.sqrt(n), n - 1
    t = out["mean"] / se
    half = stats.t.ppf(1 - level / 2, df) * se
    out["ci"] = [float(out["mean"] - half), float(out["mean"] + half)]
    out["p_greater"] = float(stats.t.sf(t, df))
    out["p_less"] = float(stats.t.cdf(t, df))
    out["p_equivalent"] = float(max(stats.t.sf((out["mean"] + margin) / se, df),
                                    stats.t.cdf((out["mean"] - margin) / se, df)))
    out["mde"] = mde(out["std"], n, level, power)
    return out


def t_test_power(effect: float, std: float, n: int, level: float = 0.05) -> float:
    """Power of the one-sided one-sample t-test at this level to detect a true mean `effect`."""
    df = n - 1
    crit = stats.t.ppf(1 - level, df)
    return float(stats.nct.sf(crit, df, effect * math.sqrt(n) / std))


def mde(std: float, n: int, level: float = 0.05, power: float = 0.8) -> float | None:
    """The smallest true mean the one-sided t-test detects with this power (n values, this std)."""
    if n < 2 or not std > 0:
        return None
    hi = std
    while t_test_power(hi, std, n, level) < power:
        hi *= 2
    return float(optimize.brentq(lambda e: t_test_power(e, std, n, level) - power, 0.0, hi, xtol=1e-12))


def seeds_needed(effect: float, std: float | None, level: float = 0.05, power: float = 0.8,
                 most: int = 10_000) -> int | None:
    """The fewest seeds whose one-sided t-test detects a true mean `effect` with this power,
    if the per-seed standard deviation is `std`; None if std is unknown or more than `most`."""
    if std is None or not std > 0 or not effect > 0:
        return None
    return next((n for n in range(2, most + 1) if t_test_power(effect, std, n, level) >= power), None)


def rm_anova(rows) -> dict:
    """One-way repeated-measures ANOVA: does the mean depend on the condition, with every
    seed measured under every condition? rows[i][j]: seed i, condition j.

    F, its degrees of freedom and p-value, and the same test with the Greenhouse-Geisser
    correction for non-sphericity: the F test assumes the differences between conditions
    have equal variances, and when they do not its p is too small. epsilon-hat =
    tr(S)^2 / ((k - 1) tr(S^2)), S the covariance of k - 1 orthonormal contrasts of the
    conditions (here the double-centred covariance of the conditions, which has the same
    traces), scales both degrees of freedom; epsilon = 1 under sphericity and always for
    two conditions, 1 / (k - 1) at worst.
    """
    y = np.asarray(rows, dtype=float)
    n, k = y.shape if y.ndim == 2 else (0, 0)
    none = {"F": None, "p_value": None, "df": None, "gg_epsilon": None, "gg_df": None, "gg_p_value": None}
    if n < 2 or k < 2:
        return none
    grand = y.mean()
    ss_cond = n * float(((y.mean(axis=0) - grand) ** 2).sum())
    ss_subj = k * float(((y.mean(axis=1) - grand) ** 2).sum())
    ss_err = float(((y - grand) ** 2).sum()) - ss_cond - ss_subj
    df1, df2 = k - 1, (k - 1) * (n - 1)
    if ss_err <= 1e-15 * max(1.0, ss_cond):
        return {**none, "df": [df1, df2]}
    f = (ss_cond / df1) / (ss_err / df2)
    cov = np.cov(y, rowvar=False)
    centred = cov - cov.mean(axis=0) - cov.mean(axis=1)[:, None] + cov.mean()
    eps = float(np.trace(centred) ** 2 / (df1 * (centred ** 2).sum()))
    eps = min(1.0, max(1.0 / df1, eps))          # its bounds, against rounding
    return {"F": float(f), "p_value": float(stats.f.sf(f, df1, df2)), "df": [df1, df2],
            "gg_epsilon": eps, "gg_df": [eps * df1, eps * df2],
            "gg_p_value": float(stats.f.sf(f, eps * df1, eps * df2))}


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p times
    (m - i + 1), made non-decreasing, at most 1. Rejecting where the adjusted p < level keeps
    the chance of any false rejection among the m at most `level`. None (no test) counts as 1."""
    p = np.array([1.0 if x is None else float(x) for x in p_values])
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return [float(x) for x in out]


def trend_per_seed(xs, rows) -> list[float]:
    """Per seed, the change of a value across the grid that a least-squares line through its
    points gives: slope x (max x - min x). rows[i][j]: seed i at grid point xs[j]."""
    x = np.asarray(xs, dtype=float)
    span = float(x.max() - x.min())
    return [float(np.polyfit(x, np.asarray(r, dtype=float), 1)[0]) * span for r in rows]


def eq3_alpha(l_asc, l_aet):
    """Eq. 3 of the paper, alpha = L*_ASC / (L*_ASC + L*_AET) = r / (1 + r), r the loss
    ratio L*_ASC / L*_AET: the one formula, for scalars or per-seed arrays alike."""
    return l_asc / (l_asc + l_aet)


def equivalence_power(std: float, n: int, margin: float, level: float = 0.05, true_mean: float = 0.0) -> float:
    """Power of the two one-sided tests (|mean| < margin, each at `level`) on n paired values
    whose true mean is `true_mean` and standard deviation `std`: the chance that the
    (1 - 2 level) interval lies inside +-margin. Exact, by integrating over the sample
    standard deviation s (s^2 (n - 1) / std^2 ~ chi2(n - 1)); the mean is normal and
    independent of s."""
    if n < 2 or not std > 0:
        return float("nan")
    df, se = n - 1, std / math.sqrt(n)
    crit = stats.t.ppf(1 - level, df)

    def inside(q: float) -> float:     # q = s^2 df / std^2; the test needs |mean| < margin - crit s / sqrt(n)
        room = margin - crit * math.sqrt(q / df) * se
        if room <= 0:
            return 0.0
        return float(stats.norm.cdf((room - true_mean) / se) - stats.norm.cdf((-room - true_mean) / se))

    q_max = df * (margin / (crit * se)) ** 2      # beyond it the interval is wider than the margin
    from scipy import integrate
    value, _ = integrate.quad(lambda q: inside(q) * stats.chi2.pdf(q, df), 0.0, q_max, limit=200)
    return float(min(1.0, max(0.0, value)))


def equivalence_seeds_needed(std: float | None, margin: float, level: float = 0.05, power: float = 0.8,
                             most: int = 2_000) -> int | None:
    """The fewest seeds whose two one-sided tests show |mean| < margin with this power when
    the true mean is 0 and the per-seed spread `std`; None if std is unknown or more than `most`."""
    if std is None or not std > 0:
        return None
    lo, hi = 2, 2
    while equivalence_power(std, hi, margin, level) < power:
        if hi >= most:
            return None
        lo, hi = hi, min(most, 2 * hi)
    while lo < hi:                      # power grows with n: the first n that reaches it
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if equivalence_power(std, mid, margin, level) < power else (lo, mid)
    return lo


# ------------------------------------------------------------------------ MixUp's loss floors
# MixUp trains on soft targets t = lam y_a + (1 - lam) y_b, lam ~ Beta(a, a): no network gets a
# cross-entropy below the targets' own entropy, which is lam's binary entropy H(lam) wherever
# the two clips' labels differ. These floors bound what "at convergence" can mean for a loss.

def mixup_entropy(a: float) -> float:
    """E[H(lam)] in nats for lam ~ Beta(a, a), H(l) = -l ln l - (1 - l) ln(1 - l): by
    E[-lam ln lam] = a / (a + b) (psi(a + b + 1) - psi(a + 1)) with b = a, twice."""
    from scipy import special
    return float(special.digamma(2 * a + 1) - special.digamma(a + 1))


def asc_mixup_floor(scene_shares, a: float) -> float:
    """The lowest mean cross-entropy (nats) of scene targets mixed by MixUp: P(the two clips
    differ in scene) x E[H(lam)], P = 1 - sum of squared scene shares (partners drawn
    independently of the clip)."""
    p = np.asarray(scene_shares, dtype=float)
    p = p / p.sum()
    return float((1.0 - (p ** 2).sum()) * mixup_entropy(a))


def bce_mixup_floor(label_shares, a: float) -> float:
    """The lowest binary cross-entropy (nats), averaged over the classes, of multi-hot event
    targets mixed by MixUp: a class's target is lam or 1 - lam where exactly one clip holds it,
    chance 2 q (1 - q) for a class in a share q of the clips (independent clips)."""
    q = np.asarray(label_shares, dtype=float)
    return float(np.mean(2.0 * q * (1.0 - q)) * mixup_entropy(a))
