import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, label_ranking_average_precision_score

from aetasc.training.metrics import class_accuracies, lwlrap, macro_accuracy


def _sk_lwlrap(truth, scores):
    keep = truth.sum(1) > 0
    return label_ranking_average_precision_score(truth[keep], scores[keep], sample_weight=truth[keep].sum(1))


@pytest.mark.parametrize("seed", range(5))
def test_macro_accuracy_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, 200)
    pred = np.where(rng.random(200) < 0.6, y, rng.integers(0, 6, 200))
    assert macro_accuracy(y, pred, 6) == pytest.approx(balanced_accuracy_score(y, pred))


def test_macro_accuracy_with_a_class_never_predicted_and_one_absent():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 0, 2, 3])      # class 1 never predicted; class 3 not in y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score(y, pred)
    assert macro_accuracy(y, pred, 4) == pytest.approx(expected) == pytest.approx(0.5)
    per_class = class_accuracies(y, pred, 4)
    assert per_class[:3].tolist() == [1.0, 0.0, 0.5] and np.isnan(per_class[3])


@pytest.mark.parametrize("seed", range(5))
def test_lwlrap_matches_sklearn_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    truth = rng.random((300, 12)) < 0.2
    truth[rng.integers(0, 300, 20)] = False            # some clips without labels
    scores = rng.normal(size=truth.shape) + truth * rng.random()
    assert lwlrap(truth, scores, chunk=64) == pytest.approx(_sk_lwlrap(truth, scores))


def test_lwlrap_with_ties_and_single_labels():
    rng = np.random.default_rng(1)
    truth = np.zeros((100, 5), bool)
    truth[np.arange(100), rng.integers(0, 5, 100)] = True   # one label per clip
    scores = rng.integers(0, 3, truth.shape).astype(float)  # many ties
    assert lwlrap(truth, scores) == pytest.approx(_sk_lwlrap(truth, scores))


def test_lwlrap_closed_forms():
    truth = np.array([[1, 0, 0], [0, 1, 1]], bool)
    perfect = np.array([[0.9, 0.1, 0.0], [0.0, 0.8, 0.7]])
    assert lwlrap(truth, perfect) == 1.0
    # clip 0: its label ranked 3rd -> 1/3; clip 1: labels ranked 1st and 3rd -> 1 and 2/3
    scores = np.array([[0.1, 0.5, 0.9], [0.9, 0.1, 0.95]])
    assert lwlrap(truth, scores) == pytest.approx((1 / 3 + 2 / 3 + 1.0) / 3)


def test_lwlrap_bad_input():
    with pytest.raises(ValueError, match="shapes"):
        lwlrap(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="no clip carries a label"):
        lwlrap(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        lwlrap(np.ones((1, 2)), np.array([[np.nan, 0.0]]))
