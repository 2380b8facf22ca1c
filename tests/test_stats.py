"""Statistics against hand-computed values, scipy's own tests, least squares, simulation and
published worked examples."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats as sp

from aetasc.stats import (asc_mixup_floor, bce_mixup_floor, eq3_alpha, equivalence_power, equivalence_seeds_needed,
                          holm, mde, mean_test, mixup_entropy, paired_gain, rm_anova, seeds_needed, summarize,
                          t_test_power, trend_per_seed)


def test_summarize_uses_the_sample_std():
    s = summarize([1, 2, 3, 4])
    assert s["mean"] == 2.5
    assert s["std"] == pytest.approx(math.sqrt(5 / 3))      # sum of squares 5, n - 1 = 3
    assert s["per_seed"] == [1.0, 2.0, 3.0, 4.0]
    assert summarize([0.7])["std"] == 0.0


def test_paired_gain_is_the_paired_t_test():
    a, b = [0.70, 0.72, 0.69, 0.71], [0.68, 0.69, 0.69, 0.70]
    d = [0.02, 0.03, 0.00, 0.01]                 # mean 0.015, sample std sqrt(0.0005 / 3)
    t = 0.015 / (math.sqrt(0.0005 / 3) / math.sqrt(4))
    g = paired_gain([0, 1, 2, 3], a, [0, 1, 2, 3], b)
    assert g["mean"] == pytest.approx(0.015)
    assert g["per_seed"] == pytest.approx(d)
    assert g["p_greater"] == pytest.approx(sp.t.sf(t, df=3))
    assert t == pytest.approx(2.3238, abs=1e-4)


def test_paired_gain_pairs_by_seed_not_by_position():
    g = paired_gain([2, 0, 1], [0.5, 0.3, 0.4], [0, 1, 2, 3], [0.1, 0.2, 0.3, 0.9])
    assert g["per_seed"] == pytest.approx([0.2, 0.2, 0.2])
    assert g["p_greater"] == 0.0                  # identical differences: degenerate, positive


# ------------------------------------------------------- inference over seeds, and power

D = [0.02, 0.03, 0.00, 0.01, 0.025]


def test_mean_test_agrees_with_scipys_t_tests():
    t = mean_test(D, level=0.05, margin=0.02)
    assert t["p_greater"] == pytest.approx(sp.ttest_1samp(D, 0.0, alternative="greater").pvalue)
    assert t["p_less"] == pytest.approx(sp.ttest_1samp(D, 0.0, alternative="less").pvalue)
    lo, hi = sp.t.interval(0.95, len(D) - 1, loc=sp.tmean(D), scale=sp.sem(D))
    assert t["ci"] == pytest.approx([lo, hi])
    # two one-sided tests: mean > -margin and mean < +margin, the larger p decides
    tost = max(sp.ttest_1samp(D, -0.02, alternative="greater").pvalue,
               sp.ttest_1samp(D, 0.02, alternative="less").pvalue)
    assert t["p_equivalent"] == pytest.approx(tost)


def test_equivalence_needs_the_whole_interval_inside_the_margin():
    tight = mean_test([0.001, -0.002, 0.0015, -0.0005, 0.0], margin=0.02)
    loose = mean_test([0.03, -0.04, 0.05, -0.02, 0.0], margin=0.02)
    assert tight["p_equivalent"] < 0.05 < loose["p_equivalent"]


def test_degenerate_samples():
    assert mean_test([0.01])["p_greater"] is None and mean_test([0.01])["ci"] is None
    same = mean_test([0.01, 0.01, 0.01], margin=0.02)
    assert same["ci"] == pytest.approx([0.01, 0.01]) and same["mde"] is None
    assert (same["p_greater"], same["p_less"], same["p_equivalent"]) == (0.0, 1.0, 0.0)
    assert mean_test([0.0, 0.0])["p_greater"] == 1.0


def test_power_at_the_mde_is_what_a_simulation_gives():
    """The noncentral t against 40,000 simulated experiments of 5 seeds."""
    n, std = 5, 0.03
    effect = mde(std, n, level=0.05, power=0.8)
    rng = np.random.default_rng(0)
    samples = rng.normal(effect, std, size=(40_000, n))
    p = sp.ttest_1samp(samples, 0.0, axis=1, alternative="greater").pvalue
    assert (p < 0.05).mean() == pytest.approx(0.8, abs=0.01)
    assert t_test_power(effect, std, n) == pytest.approx(0.8)


def test_mde_tends_to_the_normal_approximation():
    n, std = 2000, 0.05
    normal = (sp.norm.ppf(0.95) + sp.norm.ppf(0.8)) * std / math.sqrt(n)
    assert mde(std, n) == pytest.approx(normal, rel=2e-3)


def test_seeds_needed_is_the_first_n_with_enough_power():
    n = seeds_needed(0.05, 0.069)
    assert t_test_power(0.05, 0.069, n) >= 0.8 > t_test_power(0.05, 0.069, n - 1)
    assert seeds_needed(0.05, None) is None


def test_repeated_measures_anova_is_the_additive_model_f_test():
    """Against ordinary least squares: seeds + conditions vs seeds alone."""
    y = np.array([[0.51, 0.55, 0.50], [0.47, 0.53, 0.49], [0.56, 0.57, 0.52], [0.50, 0.56, 0.47]])
    n, k = y.shape
    seed = np.repeat(np.eye(n), k, axis=0)
    cond = np.tile(np.eye(k)[:, 1:], (n, 1))
    target = y.reshape(-1)

    def rss(design):
        beta = np.linalg.lstsq(design, target, rcond=None)[0]
        return float(((target - design @ beta) ** 2).sum())

    full, reduced = rss(np.hstack([seed, cond])), rss(seed)
    df1, df2 = k - 1, (n - 1) * (k - 1)
    f = ((reduced - full) / df1) / (full / df2)
    r = rm_anova(y)
    assert r["F"] == pytest.approx(f) and r["df"] == [df1, df2]
    assert r["p_value"] == pytest.approx(sp.f.sf(f, df1, df2))


def helmert(k: int) -> np.ndarray:
    """k - 1 orthonormal contrasts: row j compares the first j + 1 conditions' mean with the next."""
    rows = [np.r_[np.ones(j + 1), -(j + 1), np.zeros(k - j - 2)] / math.sqrt((j + 1) * (j + 2)) for j in range(k - 1)]
    return np.array(rows)


def test_greenhouse_geisser_is_the_closed_form_over_orthonormal_contrasts():
    y = np.array([[0.61, 0.64, 0.58, 0.70], [0.55, 0.63, 0.57, 0.59], [0.66, 0.65, 0.52, 0.71],
                  [0.60, 0.69, 0.61, 0.62], [0.58, 0.60, 0.50, 0.66]])
    n, k = y.shape
    c = helmert(k)
    assert c @ c.T == pytest.approx(np.eye(k - 1)) and np.abs(c @ np.ones(k)).max() < 1e-12
    s = c @ np.cov(y, rowvar=False) @ c.T
    eps = np.trace(s) ** 2 / ((k - 1) * np.trace(s @ s))
    r = rm_anova(y)
    assert 1 / (k - 1) < eps < 0.999
    assert r["gg_epsilon"] == pytest.approx(eps, rel=1e-12)
    assert r["gg_df"] == pytest.approx([eps * (k - 1), eps * (k - 1) * (n - 1)])
    assert r["gg_p_value"] == pytest.approx(sp.f.sf(r["F"], eps * (k - 1), eps * (k - 1) * (n - 1)))
    assert r["gg_p_value"] > r["p_value"]          # fewer degrees of freedom: a larger p


def test_greenhouse_geisser_on_a_published_example():
    """Maxwell & Delaney (1990, p. 497), reaction time by tilt of the stimulus (0, 4, 8
    degrees), ten subjects: F = 40.719 on (2, 18) and the Huynh-Feldt epsilon 1.2176 (before
    its cap at 1), as the adjPF and epsHF MATLAB files of Trujillo-Ortiz et al. (2006) report
    them; Huynh-Feldt's formula gives it from the Greenhouse-Geisser epsilon 0.9616."""
    y = np.array([[450, 510, 630], [390, 480, 540], [570, 630, 660], [450, 660, 720], [510, 660, 630],
                  [360, 450, 450], [510, 600, 720], [510, 660, 780], [510, 660, 660], [510, 540, 660]])
    n, k = y.shape
    r = rm_anova(y)
    assert r["F"] == pytest.approx(40.719, abs=1e-3) and r["df"] == [2, 18]
    assert r["gg_epsilon"] == pytest.approx(0.9616, abs=1e-4)
    eps = r["gg_epsilon"]
    assert (n * (k - 1) * eps - 2) / ((k - 1) * (n - 1 - (k - 1) * eps)) == pytest.approx(1.2176, abs=1e-4)


def test_greenhouse_geisser_at_its_bounds():
    rng = np.random.default_rng(3)
    two = rng.normal(size=(6, 2))
    r = rm_anova(two)                                  # two conditions: sphericity always holds
    assert r["gg_epsilon"] == pytest.approx(1.0) and r["gg_p_value"] == pytest.approx(r["p_value"])
    # every seed's departure from the condition means along one direction: the contrasts'
    # covariance has rank 1, the worst case epsilon = 1 / (k - 1)
    seed, scale = rng.normal(size=(6, 1)), rng.normal(size=(6, 1))
    rank_one = seed + np.array([0.0, 0.3, 0.1, 0.5]) + scale * np.array([1.0, -2.0, 0.5, 3.0])
    r = rm_anova(rank_one)
    assert r["gg_epsilon"] == pytest.approx(1 / 3)
    assert r["gg_p_value"] == pytest.approx(sp.f.sf(r["F"], 1, 5))


def test_holm_on_a_hand_worked_list():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> non-decreasing 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])        # at most 1
    assert holm([0.02, 0.02]) == pytest.approx([0.04, 0.04])    # ties
    assert holm([0.03]) == pytest.approx([0.03])                 # one test: unchanged
    assert holm([0.01, None]) == pytest.approx([0.02, 1.0])      # no test counts as p = 1
    assert holm([]) == []


def test_holm_is_bonferroni_closed_testing():
    """Holm's adjusted p of H_i is the largest Bonferroni p over every intersection of
    hypotheses containing H_i (Marcus, Peritz & Gabriel's closed testing)."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        p = rng.uniform(0, 0.1, size=5) ** rng.uniform(0.5, 2)
        closed = [max(min(1.0, len(subset) * min(p[j] for j in subset))
                      for r in range(1, 6) for subset in itertools.combinations(range(5), r) if i in subset)
                  for i in range(5)]
        assert holm(p) == pytest.approx(closed)


def test_trend_per_seed_is_the_fitted_change_across_the_grid():
    xs = [1, 2, 4, 8]
    rows = [[0.5 + 0.01 * x for x in xs], [0.6 - 0.002 * x for x in xs]]
    assert trend_per_seed(xs, rows) == pytest.approx([0.07, -0.014])


# ------------------------------------------------------------------------ Eq. 3 and the loss floors

def test_eq3_alpha_is_the_ratio_over_one_plus_the_ratio():
    assert eq3_alpha(1.0, 0.05) == pytest.approx(20 / 21)            # the paper's ratio: 0.952
    assert eq3_alpha(0.581294, 0.145932) == pytest.approx(3.983318 / 4.983318, abs=1e-6)
    np.testing.assert_allclose(eq3_alpha(np.array([2.0, 4.0]), np.array([1.0, 1.0])), [2 / 3, 0.8])


def binary_entropy(lam):
    return -(lam * np.log(lam) + (1 - lam) * np.log1p(-lam))


@pytest.mark.parametrize("a", [0.2, 0.3, 1.0, 2.0])
def test_mixup_entropy_is_the_integral_of_the_binary_entropy_over_beta(a):
    from scipy import integrate
    reference, _ = integrate.quad(lambda lam: binary_entropy(lam) * sp.beta.pdf(lam, a, a), 0, 1, limit=200)
    assert mixup_entropy(a) == pytest.approx(reference, rel=1e-7)
    assert mixup_entropy(1.0) == pytest.approx(0.5)                  # uniform lambda: E[H] = 1/2 nat


def test_asc_floor_is_the_entropy_of_the_mixed_targets():
    # 10 balanced scenes, Beta(0.3, 0.3): 0.9 x 0.2952 = 0.266 nats (the "near 0.27")
    assert asc_mixup_floor([1] * 10, 0.3) == pytest.approx(0.9 * mixup_entropy(0.3))
    assert asc_mixup_floor([1] * 10, 0.3) == pytest.approx(0.2657, abs=1e-4)
    # a simulation of what no classifier beats: the mean entropy of the mixed one-hot targets
    rng = np.random.default_rng(0)
    shares = np.array([0.5, 0.3, 0.2])
    a, b = rng.choice(3, 400_000, p=shares), rng.choice(3, 400_000, p=shares)
    lam = np.clip(rng.beta(0.3, 0.3, 400_000), 1e-12, 1 - 1e-12)
    entropy = np.where(a != b, binary_entropy(lam), 0.0)
    assert asc_mixup_floor(shares, 0.3) == pytest.approx(entropy.mean(), rel=0.01)


def test_bce_floor_is_the_mean_entropy_of_the_mixed_multi_hot_targets():
    rng = np.random.default_rng(1)
    q = np.array([0.5, 0.1, 0.02, 0.3])                # each class's share of the clips
    n = 400_000
    y_a, y_b = rng.random((n, 4)) < q, rng.random((n, 4)) < q
    lam = np.clip(rng.beta(0.3, 0.3, (n, 1)), 1e-12, 1 - 1e-12)
    t = lam * y_a + (1 - lam) * y_b
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.nan_to_num(-(t * np.log(t) + (1 - t) * np.log(1 - t)))   # 0 ln 0 = 0
    assert bce_mixup_floor(q, 0.3) == pytest.approx(h.mean(), rel=0.01)
    # closed form: the mean over classes of 2 q (1 - q), times E[H(lam)]
    assert bce_mixup_floor(q, 0.3) == pytest.approx(np.mean(2 * q * (1 - q)) * mixup_entropy(0.3))


# ------------------------------------------------------------------------ power of the equivalence route

@pytest.mark.parametrize("n, level, true_mean", [(8, 0.05, 0.0), (8, 0.05 / 3, 0.0), (16, 0.05, 0.01)])
def test_equivalence_power_is_what_a_simulation_gives(n, level, true_mean):
    rng = np.random.default_rng(2)
    sd, margin = 0.02, 0.02
    x = rng.normal(true_mean, sd, (200_000, n))
    m, s = x.mean(axis=1), x.std(axis=1, ddof=1)
    half = sp.t.ppf(1 - level, n - 1) * s / math.sqrt(n)
    simulated = ((m - half > -margin) & (m + half < margin)).mean()
    assert equivalence_power(sd, n, margin, level, true_mean) == pytest.approx(simulated, abs=0.004)


def test_equivalence_power_agrees_with_mean_tests_tost():
    # the power is the chance mean_test's p_equivalent falls below the level
    rng = np.random.default_rng(3)
    hits = [mean_test(rng.normal(0, 0.02, 12), margin=0.02)["p_equivalent"] < 0.05 for _ in range(4000)]
    assert equivalence_power(0.02, 12, 0.02) == pytest.approx(np.mean(hits), abs=0.02)


def test_equivalence_seeds_needed_is_the_first_n_with_enough_power():
    n = equivalence_seeds_needed(0.02, 0.02, 0.05, 0.8)
    assert equivalence_power(0.02, n, 0.02) >= 0.8 > equivalence_power(0.02, n - 1, 0.02)
    assert equivalence_seeds_needed(None, 0.02) is None
    assert equivalence_seeds_needed(1.0, 0.001, most=50) is None
