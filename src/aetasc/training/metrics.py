"""The paper's metrics: macro-average accuracy for ASC and lwlrap for AET."""
from __future__ import annotations

import numpy as np


def class_accuracies(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Accuracy of each class (recall); NaN for a class with no example in y_true."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    acc = np.full(n_classes, np.nan)
    for c in range(n_classes):
        mask = y_true == c
        if mask.any():
            acc[c] = np.mean(y_pred[mask] == c)
    return acc


def macro_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """DCASE Task 1's macro-average (class-wise) accuracy over the classes present in y_true.

    Equals scikit-learn's balanced_accuracy_score.
    """
    acc = class_accuracies(y_true, y_pred, n_classes)
    if np.all(np.isnan(acc)):
        raise ValueError("macro_accuracy: no examples")
    return float(np.nanmean(acc))


def lwlrap(truth: np.ndarray, scores: np.ndarray, chunk: int = 512) -> float:
    """Label-weighted label-ranking average precision (DCASE 2019 Task 2).

    For every (clip, true label) pair: (# true labels scored >= it) / (# labels scored
    >= it); lwlrap is the mean over all pairs. Ties count as ranked above, as in
    scikit-learn's label_ranking_average_precision_score; clips without labels are skipped.
    """
    truth = np.asarray(truth).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    if truth.shape != scores.shape or truth.ndim != 2:
        raise ValueError(f"lwlrap: truth {truth.shape} and scores {scores.shape} must be equal 2-D shapes")
    if not np.isfinite(scores).all():
        raise ValueError("lwlrap: scores must be finite")
    total, pairs = 0.0, 0
    for start in range(0, len(truth), chunk):
        t, s = truth[start:start + chunk], scores[start:start + chunk]
        # above[i, j, l]: label l scores at least as high as label j in clip i
        above = s[:, None, :] >= s[:, :, None]
        rank = above.sum(-1)
        true_rank = (above & t[:, None, :]).sum(-1)
        total += float((true_rank / rank)[t].sum())
        pairs += int(t.sum())
    if pairs == 0:
        raise ValueError("lwlrap: no clip carries a label")
    return total / pairs
