"""Linear classifiers as one weight matrix: logistic regression, naive Bayes, calibrated LinearSVC.

All of them score a basket as `features @ weights + intercept` followed by a link (softmax,
logistic, or naive Bayes' normalised joint log-likelihood). With the vectorizer's vocabulary
turned into row lookups, that is a sparse dot product over the basket's few dozen features:
microseconds, where a scikit-learn `predict_proba` call costs about a millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import mul
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from retail_model.features.columns import Parts
from retail_model.scoring.base import CompileError, FeatureRows, FeatureSpace, GatheringScorer, normalised, softmax


class Affine:
    """margins = X @ weights + intercept, for feature dicts or their gathered CSR parts."""

    def __init__(self, space: FeatureSpace, weights: np.ndarray, intercept: np.ndarray) -> None:
        self.space = space
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)  # (features, outputs)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        # For one row, plain Python over a name -> weights dict beats a dozen numpy calls. Only for a
        # float64 vectorizer: float32 inputs need numpy's float32 rounding.
        self.by_name: dict[str, tuple[float, ...]] | None = None
        if space.dtype == np.float64:
            scaled = self.weights if space.inverse_scale is None else self.weights * space.inverse_scale[:, np.newaxis]
            rows = [tuple(row) for row in scaled.tolist()]
            self.by_name = {name: rows[column] for name, column in space.vocabulary.items()}

    def margins(self, rows: FeatureRows) -> np.ndarray:
        return self.margins_of(self.space.gather(rows))

    def margins_of(self, parts: Parts) -> np.ndarray:
        indptr, columns, data = parts
        if len(indptr) == 2:  # one row: a gathered dot product beats building a sparse matrix
            product = (data @ self.weights[columns])[np.newaxis, :]
        else:
            matrix = sp.csr_array((data, columns, indptr), shape=(len(indptr) - 1, self.space.n_features))
            product = matrix @ self.weights
        return product + self.intercept

    def margins_one(self, row: Mapping[str, float]) -> list[float] | None:
        """One row's margins in plain Python, or None when this space needs the numpy path."""
        if self.by_name is None:
            return None
        totals = self.intercept.tolist()
        _, values, rows = known_rows(self.by_name, row)
        # One C-level sum per output, in the loop's order (intercept first, then each feature as it comes).
        return [sum(map(mul, values, column), start) for start, column in zip(totals, zip(*rows), strict=False)] if rows else totals


def known_rows(
    by_name: Mapping[str, tuple[float, ...]], row: Mapping[str, float]
) -> tuple[list[str], list[float], list[tuple[float, ...]]]:
    """The row's names, values and their rows in `by_name`, for the names it knows (lookups in C; unseen names are dropped)."""
    rows = list(map(by_name.get, row))
    if None not in rows:  # the usual case: every name is known
        return list(row), list(row.values()), rows
    known = [(name, value, found) for (name, value), found in zip(row.items(), rows, strict=True) if found is not None]
    return [name for name, _, _ in known], [value for _, value, _ in known], [found for _, _, found in known]


class LinearScorer(GatheringScorer):
    """Logistic regression (softmax, or logistic for two classes) and multinomial/complement naive Bayes."""

    kind = "linear"
    LINKS = ("softmax", "logistic", "joint_log_likelihood")

    def __init__(self, affine: Affine, link: str) -> None:
        if link not in self.LINKS:
            raise ValueError(f"unknown link {link!r}")
        self.affine, self.space = affine, affine.space
        self.link = link

    def probabilities_of(self, parts: Parts) -> np.ndarray:
        return self.link_rows(self.affine.margins_of(parts))

    def link_rows(self, margins: np.ndarray) -> np.ndarray:
        """Probabilities from margins (rows x outputs)."""
        if self.link == "softmax":
            return normalised(softmax(margins))
        if self.link == "logistic":
            positive = expit(margins[:, 0])
            return normalised(np.stack([1 - positive, positive], axis=1))
        # naive Bayes' predict_proba is exp(jll - logsumexp(jll)); scipy's logsumexp costs ~100 µs
        # a call in array-API dispatch, so it is spelt out (same formula: max + log(sum(exp(x - max)))).
        largest = margins.max(axis=1, keepdims=True)
        log_total = largest + np.log(np.exp(margins - largest).sum(axis=1, keepdims=True))
        return normalised(np.exp(margins - log_total))

    def probabilities_one(self, row: Mapping[str, float]) -> list[float]:
        margins = self.affine.margins_one(row)
        if margins is None:
            return super().probabilities_one(row)
        return self.link_one(margins)

    def link_one(self, margins: list[float]) -> list[float]:
        """One row's probabilities from its margins, in plain Python."""
        if self.link == "logistic":
            positive = _expit(margins[0])
            probabilities = [1.0 - positive, positive]
        else:
            largest = max(margins)
            exponentials = [math.exp(m - largest) for m in margins]
            if self.link == "softmax":
                total = sum(exponentials)
                probabilities = [e / total for e in exponentials]
            else:  # joint log-likelihood
                log_total = largest + math.log(sum(exponentials))
                probabilities = [math.exp(m - log_total) for m in margins]
        total = sum(probabilities)
        return [p / total for p in probabilities]


def _expit(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exponential = math.exp(value)  # never overflows for value < 0
    return exponential / (1.0 + exponential)


def compile_logistic_regression(space: FeatureSpace, model: Any) -> LinearScorer:
    coef = model.coef_.toarray() if sp.issparse(model.coef_) else np.asarray(model.coef_)
    link = "logistic" if len(model.classes_) <= 2 else "softmax"
    return LinearScorer(Affine(space, coef.T, model.intercept_), link)


def compile_naive_bayes(space: FeatureSpace, model: Any, complement: bool) -> LinearScorer:
    log_prior = np.asarray(model.class_log_prior_, dtype=np.float64)
    if complement and len(model.classes_) > 1:  # ComplementNB adds the prior only for one class
        log_prior = np.zeros_like(log_prior)
    return LinearScorer(Affine(space, np.asarray(model.feature_log_prob_).T, log_prior), "joint_log_likelihood")


@dataclass(frozen=True)
class CalibratedOutput:
    column: int  # which margin column feeds this calibrator
    class_index: int  # which probability column it fills
    calibrate: Callable[[np.ndarray], np.ndarray]


class CalibratedLinearScorer(GatheringScorer):
    """CalibratedClassifierCV over LinearSVC: every fold's margins in one dot product, then its calibrators."""

    kind = "calibrated_linear"

    def __init__(self, affine: Affine, folds: list[list[CalibratedOutput]], n_classes: int) -> None:
        self.affine, self.space = affine, affine.space
        self.folds = folds
        self.n_classes = n_classes

    def probabilities_of(self, parts: Parts) -> np.ndarray:
        margins = self.affine.margins_of(parts)
        mean = np.zeros((margins.shape[0], self.n_classes))
        for outputs in self.folds:  # scikit-learn's _CalibratedClassifier.predict_proba, fold by fold
            proba = np.zeros_like(mean)
            for output in outputs:
                proba[:, output.class_index] = output.calibrate(margins[:, output.column])
            if self.n_classes == 2:
                proba[:, 0] = 1.0 - proba[:, 1]
            else:
                denominator = np.sum(proba, axis=1)[:, np.newaxis]
                uniform = np.full_like(proba, 1 / self.n_classes)
                proba = np.divide(proba, denominator, out=uniform, where=denominator != 0)
            proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
            mean += proba
        mean /= len(self.folds)
        return normalised(mean)


def compile_calibrated_linear_svc(space: FeatureSpace, model: Any) -> CalibratedLinearScorer:
    from sklearn.svm import LinearSVC

    weights, intercepts, folds, offset = [], [], [], 0
    for calibrated in model.calibrated_classifiers_:
        estimator = calibrated.estimator
        if type(estimator) is not LinearSVC:
            raise CompileError(f"CalibratedClassifierCV over {type(estimator).__name__}, not LinearSVC")
        if calibrated.method not in ("sigmoid", "isotonic"):
            raise CompileError(f"calibration method {calibrated.method!r}")
        classes = np.asarray(calibrated.classes)
        positions = np.searchsorted(classes, estimator.classes_)
        coef = np.asarray(estimator.coef_)
        outputs = []
        for column, (position, calibrator) in enumerate(zip(positions, calibrated.calibrators, strict=False)):
            class_index = int(position) + 1 if len(classes) == 2 else int(position)
            outputs.append(CalibratedOutput(offset + column, class_index, _calibration_function(calibrator)))
        weights.append(coef.T)
        intercepts.append(np.asarray(estimator.intercept_, dtype=np.float64))
        folds.append(outputs)
        offset += coef.shape[0]
    affine = Affine(space, np.hstack(weights), np.concatenate(intercepts))
    return CalibratedLinearScorer(affine, folds, len(model.classes_))


def _calibration_function(calibrator: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The calibrator's `predict` without scikit-learn's input checks (tens of µs per call)."""
    from sklearn.isotonic import IsotonicRegression

    if type(calibrator).__name__ == "_SigmoidCalibration":
        return _Sigmoid(float(calibrator.a_), float(calibrator.b_))
    if type(calibrator) is IsotonicRegression and calibrator.out_of_bounds == "clip":
        x, y = np.asarray(calibrator.X_thresholds_), np.asarray(calibrator.y_thresholds_)
        return _ClippedInterpolation(calibrator.X_min_, calibrator.X_max_, x, y)
    raise CompileError(f"calibrator {type(calibrator).__name__}")


# Plain classes rather than closures, so a compiled scorer can be saved with the model (pickle).
@dataclass(frozen=True)
class _Sigmoid:
    a: float
    b: float

    def __call__(self, margins: np.ndarray) -> np.ndarray:
        return expit(-(self.a * margins + self.b))


@dataclass(frozen=True)
class _ClippedInterpolation:
    low: float
    high: float
    x: np.ndarray
    y: np.ndarray

    def __call__(self, margins: np.ndarray) -> np.ndarray:
        return np.interp(np.clip(margins, self.low, self.high), self.x, self.y)
