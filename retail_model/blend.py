"""A soft vote: the weighted mean of fitted classifiers' probabilities, as one classifier.

Training blends complement naive Bayes with logistic regression (the `nb_lr_blend` candidate):
naive Bayes reads which products a basket holds, the logistic regression weighs the same
features discriminatively, and their averaged probabilities beat either alone on the validation
weeks. The blend is the last step of the model artefact's pipeline, so the API unpickles it:
it lives here, next to the artefact, where the API can load it.

scikit-learn's VotingClassifier is not used because it insists on fitting (cloning) its members
itself; the search builds the blend from members it has already fitted and scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class SoftVote(ClassifierMixin, BaseEstimator):
    """`predict_proba` = sum of weight_i * member_i.predict_proba, weights scaled to sum to 1.

    `estimators` are fitted classifiers (or unfitted ones, fitted in place by `fit`) that share
    `classes_`, in the same order; `weights` are one non-negative number per member, not all 0.
    """

    def __init__(self, estimators: Sequence[Any], weights: Sequence[float]) -> None:
        self.estimators = estimators
        self.weights = weights

    def fit(self, X, y) -> SoftVote:  # noqa: N803 - scikit-learn's argument names
        """Fit every member in place on the same rows (training builds blends of fitted members instead)."""
        for estimator in self.estimators:
            estimator.fit(X, y)
        self.classes_  # noqa: B018 - checks the members agree on the classes
        return self

    def __sklearn_is_fitted__(self) -> bool:
        """Fitted when every member is: what Pipeline checks before predicting."""
        from sklearn.utils.validation import check_is_fitted

        try:
            for estimator in self.estimators:
                check_is_fitted(estimator)
        except Exception:  # NotFittedError, or a member scikit-learn cannot inspect
            return False
        return True

    @property
    def normalised_weights(self) -> np.ndarray:
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (len(self.estimators),) or not len(weights):
            raise ValueError(f"SoftVote needs one weight per member: {len(self.estimators)} members, weights {list(self.weights)}")
        if np.any(weights < 0) or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise ValueError(f"SoftVote weights must be finite, >= 0 and not all 0, got {list(self.weights)}")
        return weights / weights.sum()

    @property
    def classes_(self) -> np.ndarray:
        """The members' shared classes; ValueError when they differ (their columns would not line up)."""
        first = np.asarray(self.estimators[0].classes_)
        for estimator in self.estimators[1:]:
            if not np.array_equal(np.asarray(estimator.classes_), first):
                raise ValueError(f"SoftVote members must share classes_: {first.tolist()} vs {np.asarray(estimator.classes_).tolist()}")
        return first

    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        self.classes_  # noqa: B018
        weights = self.normalised_weights
        return sum(weight * np.asarray(estimator.predict_proba(X), dtype=np.float64)
                   for weight, estimator in zip(weights, self.estimators, strict=True))

    def predict(self, X) -> np.ndarray:  # noqa: N803
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803 - BaseEstimator's signature
        terms = " + ".join(f"{weight:g} * {estimator!r}" for weight, estimator in zip(self.weights, self.estimators, strict=False))
        return f"SoftVote({terms})"
