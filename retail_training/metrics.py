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
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    # Imported here, not at the top: the monitoring assets import this module, and scikit-learn
    # (about a second) would otherwise load with the code location and in every run process.
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    true, predicted = np.asarray(true), np.asarray(predicted)
    if true.size == 0:
        return {"n": 0, "accuracy": None, "macro_f1": None, "per_class": {}, "confusion_matrix": _matrix([[0] * 3] * 3)}
    precision, recall, f1, support = precision_recall_fscore_support(
        true, predicted, labels=CODE_ORDER, zero_division=0
    )
    return {
        "n": int(true.size),
        "accuracy": float(accuracy_score(true, predicted)),
        "macro_f1": float(np.mean(f1)),  # the same as f1_score(average="macro", labels=CODE_ORDER)
        "per_class": {
            CLASS_BY_CODE[code]: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for code, p, r, f, s in zip(CODE_ORDER, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": _matrix(confusion_matrix(true, predicted, labels=CODE_ORDER).tolist()),
    }


def _matrix(matrix: list) -> dict:
    return {
        "labels": [CLASS_BY_CODE[c] for c in CODE_ORDER],
        "codes": CODE_ORDER,
        "rows": "true class",
        "columns": "predicted class",
        "matrix": matrix,
    }
