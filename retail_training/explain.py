"""The features a fitted model leans on most, for the model card and the asset metadata.

Linear models (logistic regression, complement naive Bayes, the linear SVM) get per-class
weights: the features that push a basket towards each class, relative to the other classes.
XGBoost gets its gain importance, one list for all classes. The baseline uses no feature. A
soft vote shows its heaviest member's list, and every member's under `members`.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from retail_model.blend import SoftVote
from retail_model.labels import CLASS_BY_CODE


def top_features(pipeline: Pipeline, classes: list[str], n: int = 10) -> dict:
    names = np.asarray(pipeline.named_steps["vectorize"].feature_names_)
    classifier = pipeline.named_steps["classify"]
    if isinstance(classifier, SoftVote):
        # The members' weights live on different scales (log-probabilities, logits): shown member
        # by member, the heaviest member's list first as the blend's own.
        members = [_top_features(names, member, classes, n) for member in classifier.estimators]
        heaviest = int(np.argmax(classifier.normalised_weights))
        shares = ", ".join(f"{type(m).__name__} {w:.2f}" for m, w in zip(classifier.estimators, classifier.normalised_weights, strict=True))
        return {**members[heaviest], "kind": f"soft vote ({shares}): the heaviest member's {members[heaviest]['kind']}",
                "members": members}
    return _top_features(names, classifier, classes, n)


def _top_features(names: np.ndarray, classifier, classes: list[str], n: int) -> dict:
    weights = _class_weights(classifier)
    if weights is not None:
        if weights.shape[0] == 1 and len(classes) == 2:  # binary: one row, positive = the second class
            weights = np.vstack([-weights[0], weights[0]])
        # Relative to the other classes: what separates this class, not what every class shares.
        relative = weights - weights.mean(axis=0, keepdims=True)
        return {
            "kind": "per-class weight (relative to the mean over classes)",
            "by_class": {
                CLASS_BY_CODE[code]: [
                    {"feature": str(names[i]), "weight": round(float(relative[row, i]), 4)}
                    for i in np.argsort(-relative[row])[:n]
                ]
                for row, code in enumerate(classes)
            },
        }
    importances = getattr(classifier, "feature_importances_", None)
    if importances is None:
        return {"kind": "none (the model uses no feature)", "overall": []}
    order = np.argsort(-np.asarray(importances))[:n]
    return {
        "kind": "gain importance",
        "overall": [{"feature": str(names[i]), "weight": round(float(importances[i]), 4)} for i in order if importances[i] > 0],
    }


def _class_weights(classifier) -> np.ndarray | None:
    if hasattr(classifier, "coef_"):  # logistic regression
        return np.asarray(classifier.coef_)
    if hasattr(classifier, "feature_log_prob_"):  # naive Bayes: the log-probability rows it scores with
        return np.asarray(classifier.feature_log_prob_)
    calibrated = getattr(classifier, "calibrated_classifiers_", None)
    if calibrated:  # the calibrated SVM: the mean of its cross-validation fits' coefficients
        return np.mean([np.asarray(c.estimator.coef_) for c in calibrated], axis=0)
    return None
