"""Statistics against values computed by hand from their formulas."""
import math

import pytest
from scipy import stats as sp

from aetasc.stats import anova, one_sample_gain, paired_gain, pearson, pearson_p, summarize


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


def test_one_sample_gain_tests_mean_above_zero():
    g = one_sample_gain([0.02, 0.03, 0.00, 0.01])
    t = 0.015 / (math.sqrt(0.0005 / 3) / 2)
    assert g["p_greater"] == pytest.approx(sp.t.sf(t, df=3))
    assert one_sample_gain([-0.01, -0.02, -0.03])["p_greater"] > 0.95


def test_pearson_by_hand_on_four_points():
    # deviations (-1.5, -0.5, 0.5, 1.5) and (-1.5, 0.5, -0.5, 1.5): cross sum 4, squares 5 and 5
    r = pearson([1, 2, 3, 4], [1, 3, 2, 4])
    assert r["rho"] == pytest.approx(0.8)
    t = 0.8 * math.sqrt(2 / (1 - 0.64))
    assert r["p_value"] == pytest.approx(2 * sp.t.sf(t, df=2))
    assert pearson_p(0.8, 4) == pytest.approx(r["p_value"])
    assert r["n"] == 4


def test_pearson_undefined_for_a_constant_variable():
    assert pearson([1, 2, 3], [5, 5, 5])["rho"] is None


def test_anova_f_by_hand():
    # group means 2, 5, 8 around 5: SSB = 3 * 18 = 54 (df 2); SSW = 3 * 2 = 6 (df 6): F = 27 / 1
    r = anova([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert r["F"] == pytest.approx(27.0)
    assert r["p_value"] == pytest.approx(sp.f.sf(27.0, 2, 6))


def test_anova_needs_two_values_per_group():
    assert anova([[1.0], [2.0, 3.0]]) == {"F": None, "p_value": None}
