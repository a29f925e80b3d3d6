"""The one metrics function: every score in the project (validation, test, anonymous baskets,
the serving model in the champion/challenger comparison) comes from `evaluate`.

Classes are always scored over LA/MM/UM in that order, with explicit labels, so a class missing
from a small split counts as an F1 of 0 rather than silently dropping out of the macro average.
"""

from __future__ import annotations

import numpy as np

from retail_model.labels import CLASS_BY_CODE, TRAINABLE_CODES

CODE_ORDER = list(TRAINABLE_CODES)  # LA, MM, UM: the order of per-class metrics and the matrix


def evaluate(true: np.ndarray, predicted: np.ndarray) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    The same figures as scikit-learn's `precision_recall_fscore_support(labels=CODE_ORDER,
    zero_division=0)` and `confusion_matrix`, counted from integer codes: those functions sort the
    label strings first, which cost seconds per call at 55 k baskets and the search calls this
    for every trial.
    """
    true, predicted = np.asarray(true), np.asarray(predicted)
    if true.size == 0:
        return {"n": 0, "accuracy": None, "macro_f1": None, "per_class": {}, "confusion_matrix": _matrix([[0] * 3] * 3)}
    k = len(CODE_ORDER)
    counts = np.bincount(_positions(true) * (k + 1) + _positions(predicted), minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
    matrix = counts[:k, :k]  # rows = true, columns = predicted; other labels only count against these
    hits = np.diag(matrix).astype(float)
    support, predicted_as = counts[:k].sum(axis=1), counts[:, :k].sum(axis=0)
    precision = np.divide(hits, predicted_as, out=np.zeros(k), where=predicted_as > 0)
    recall = np.divide(hits, support, out=np.zeros(k), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(k), where=total > 0)
    same = true == predicted
    return {
        "n": int(true.size),
        "accuracy": float(np.mean(same)),
        "macro_f1": float(np.mean(f1)),  # the same as f1_score(average="macro", labels=CODE_ORDER)
        "per_class": {
            CLASS_BY_CODE[code]: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for code, p, r, f, s in zip(CODE_ORDER, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": _matrix(matrix.tolist()),
    }


def _positions(codes: np.ndarray) -> np.ndarray:
    """Each code's index in CODE_ORDER; any other label (e.g. XX) gets len(CODE_ORDER)."""
    positions = np.full(codes.shape, len(CODE_ORDER), dtype=np.int64)
    for index, code in enumerate(CODE_ORDER):
        positions[codes == code] = index
    return positions


def _matrix(matrix: list) -> dict:
    return {
        "labels": [CLASS_BY_CODE[c] for c in CODE_ORDER],
        "codes": CODE_ORDER,
        "rows": "true class",
        "columns": "predicted class",
        "matrix": matrix,
    }
