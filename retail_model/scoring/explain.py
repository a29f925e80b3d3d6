"""Why a basket got its answer: each class's score split into feature contributions plus an intercept.

`contributions(scorer, rows)` gives, for every row and every class, an intercept and one number
per feature of the basket that add up exactly to the class's score:

- linear models (logistic regression, naive Bayes): weight x value, as the scorer computes the
  margin. Scores are centred across classes (each feature's contributions minus their mean over
  the classes): softmax is unchanged by that shift, so softmax(scores) is still the answer, and a
  product equally likely under every class contributes 0 instead of a large negative number.
- calibrated LinearSVC: the decision margins, averaged over the calibration folds (the calibrators
  then map them to probabilities, so there is no softmax link);
- XGBoost: XGBoost's own contributions (`Booster.predict(pred_contribs=True)`, Tree SHAP), the
  bias column as intercept, centred across classes like the linear models;
- a soft vote: its members' contributions, weighted by the vote's weights (the score is the
  weighted sum of the members' scores; the probability is the weighted mean of their softmaxes).

`top_k` then keeps each class's k largest contributions by magnitude and sums the rest into
`other`, so top-k + other + intercept is still the score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from retail_model.scoring.base import ConstantScorer, FeatureRows, FeatureSpace, Scorer
from retail_model.scoring.blend import SoftVoteScorer
from retail_model.scoring.linear import CalibratedLinearScorer, LinearScorer
from retail_model.scoring.trees import TreeEnsembleScorer

SOFTMAX, CALIBRATED, BLEND = "softmax", "calibrated", "blend"  # how scores become probabilities
_TREE_CHUNK = 256  # rows per XGBoost call: its contributions are dense (rows x classes x features)


class ExplanationUnavailableError(Exception):
    """The scorer has no exact decomposition (the pipeline fallback): ask without explanations."""


@dataclass
class Contributions:
    """score[row, class] = intercept[row, class] + the row's entries' values[:, class], exactly."""

    indptr: np.ndarray  # (rows + 1,): the row's entries are indptr[r]:indptr[r + 1]
    columns: np.ndarray  # (entries,): the feature's column in the model's vocabulary
    values: np.ndarray  # (entries, classes)
    intercept: np.ndarray  # (rows, classes)
    link: str
    members: list[tuple[float, Contributions]] = field(default_factory=list)  # a blend's weighted members

    def scores(self) -> np.ndarray:
        totals = self.intercept.copy()
        rows = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        np.add.at(totals, rows, self.values)
        return totals


class ClassExplanation(NamedTuple):  # a tuple: built for every class of every explained basket, at C speed
    score: float
    intercept: float
    top: list[tuple[str, float]]  # (feature name, contribution), largest magnitude first
    other: float  # the sum of every contribution not in `top`


def contributions(scorer: Scorer, rows: FeatureRows) -> Contributions:
    """Every row's per-class contributions; ExplanationUnavailableError for the pipeline fallback."""
    if isinstance(scorer, LinearScorer):
        return _linear(scorer, rows)
    if isinstance(scorer, CalibratedLinearScorer):
        return _calibrated(scorer, rows)
    if isinstance(scorer, TreeEnsembleScorer):
        return _trees(scorer, rows)
    if isinstance(scorer, SoftVoteScorer):
        return _blend(scorer, rows)
    if isinstance(scorer, ConstantScorer):
        empty = np.zeros(len(rows) + 1, dtype=np.intp)
        scores = np.log(np.clip(scorer.row, 1e-300, None))
        return Contributions(empty, empty[:0], np.zeros((0, scores.size)), _rows_of(scores - scores.mean(), len(rows)), SOFTMAX)
    raise ExplanationUnavailableError(
        f"the serving model is scored by its {scorer.kind} (not compiled), which has no exact explanation; ask without `explain`"
    )


def top_k(explained: Contributions, space_names: np.ndarray, k: int) -> list[list[ClassExplanation]]:
    """Per row, per class (the scorer's column order): the k largest contributions and the rest."""
    scores = explained.scores()
    out = []
    indptr, columns, values, intercept = explained.indptr, explained.columns, explained.values, explained.intercept
    for row in range(len(indptr) - 1):
        start, end = indptr[row], indptr[row + 1]
        block, names = values[start:end], space_names[columns[start:end]]
        classes = []
        for output in range(values.shape[1]):
            column = block[:, output]
            if len(column) > k:
                picked = np.argpartition(-np.abs(column), k - 1)[:k] if k else np.empty(0, dtype=np.intp)
            else:
                picked = np.arange(len(column))
            picked = picked[np.argsort(-np.abs(column[picked]), kind="stable")]
            chosen = column[picked]
            score, base = float(scores[row, output]), float(intercept[row, output])
            classes.append(ClassExplanation(score, base, list(zip(names[picked].tolist(), chosen.tolist(), strict=True)),
                                            score - base - float(chosen.sum())))  # fmt: skip
        out.append(classes)
    return out


def feature_names(space: FeatureSpace) -> np.ndarray:
    """The vocabulary's names by column (built once per feature space)."""
    names = getattr(space, "_names", None)
    if names is None:
        names = np.empty(space.n_features, dtype=object)
        for name, column in space.vocabulary.items():
            names[column] = name
        space._names = names  # type: ignore[attr-defined]
    return names


def space_of(scorer: Scorer) -> FeatureSpace | None:
    if isinstance(scorer, LinearScorer | CalibratedLinearScorer):
        return scorer.affine.space
    if isinstance(scorer, TreeEnsembleScorer):
        return scorer.space
    if isinstance(scorer, SoftVoteScorer):
        return next((s for s in map(space_of, scorer.members) if s is not None), None)
    return None


def _linear(scorer: LinearScorer, rows: FeatureRows) -> Contributions:
    affine = scorer.affine
    indptr, columns, data = affine.space.gather(rows)
    values = data[:, np.newaxis] * affine.weights[columns]
    intercept = _rows_of(affine.intercept, len(rows))
    if scorer.link == "logistic":  # two classes: p = sigmoid(m) = softmax([-m/2, m/2])
        values, intercept = np.hstack([-values / 2, values / 2]), np.hstack([-intercept / 2, intercept / 2])
        return Contributions(indptr, columns, values, intercept, SOFTMAX)
    return _centred(Contributions(indptr, columns, values, intercept, SOFTMAX))


def _calibrated(scorer: CalibratedLinearScorer, rows: FeatureRows) -> Contributions:
    affine = scorer.affine
    indptr, columns, data = affine.space.gather(rows)
    averaging = fold_averaging(scorer)
    values = (data[:, np.newaxis] * affine.weights[columns]) @ averaging
    return Contributions(indptr, columns, values, _rows_of(affine.intercept @ averaging, len(rows)), CALIBRATED)


def fold_averaging(scorer: CalibratedLinearScorer) -> np.ndarray:
    """(margin columns, classes): which fold's margin feeds which class, averaged over the folds."""
    averaging = np.zeros((scorer.affine.weights.shape[1], scorer.n_classes))
    for outputs in scorer.folds:
        for output in outputs:
            averaging[output.column, output.class_index] += 1.0 / len(scorer.folds)
    if scorer.n_classes == 2:  # one margin per fold, for the positive class
        averaging[:, 0] = -averaging[:, 1]
    return averaging


def _trees(scorer: TreeEnsembleScorer, rows: FeatureRows) -> Contributions:
    import scipy.sparse as sp
    import xgboost

    space = scorer.space
    parts_indptr, parts_columns, parts_values, parts_intercept = [np.zeros(1, dtype=np.intp)], [], [], []
    for first in range(0, len(rows), _TREE_CHUNK):
        chunk = rows[first : first + _TREE_CHUNK]
        indptr, columns, data = space.gather(chunk)
        matrix = sp.csr_matrix((data.astype(np.float32), columns, indptr), shape=(len(chunk), space.n_features))
        # A dense vectorizer hands 0.0 for absent features (XGBoost must see zeros); a sparse one leaves them missing.
        dmatrix = xgboost.DMatrix(matrix if space.sparse else matrix.toarray(), missing=np.nan)
        raw = scorer.booster.predict(dmatrix, pred_contribs=True, iteration_range=scorer.iteration_range)
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim == 2:  # binary: contributions to the positive class's margin
            raw = np.stack([-raw / 2, raw / 2], axis=1)
        bias, features = raw[:, :, -1], raw[:, :, :-1]  # (rows, classes), (rows, classes, features)
        row_index, column_index = np.nonzero(np.any(features != 0, axis=1))
        parts_indptr.append(np.searchsorted(row_index, np.arange(1, len(chunk) + 1)) + parts_indptr[-1][-1])
        parts_columns.append(column_index)
        parts_values.append(features[row_index, :, column_index])
        parts_intercept.append(bias)
    classes = parts_intercept[0].shape[1] if parts_intercept else 1
    explained = Contributions(
        np.concatenate(parts_indptr),
        np.concatenate(parts_columns) if parts_columns else np.zeros(0, dtype=np.intp),
        np.vstack(parts_values) if parts_values else np.zeros((0, classes)),
        np.vstack(parts_intercept) if parts_intercept else np.zeros((0, classes)),
        SOFTMAX,
    )
    return _centred(explained)


def _blend(scorer: SoftVoteScorer, rows: FeatureRows) -> Contributions:
    members = [(weight, contributions(member, rows)) for weight, member in zip(scorer.weights, scorer.members, strict=True)]
    intercept = sum(weight * part.intercept for weight, part in members)
    first = members[0][1]
    if all(len(part.columns) == len(first.columns) and (part.columns == first.columns).all() and (part.indptr == first.indptr).all()
           for _, part in members):
        # Members over the same features (the usual linear blend): their entries line up one to one.
        values = sum(weight * part.values for weight, part in members)
        return Contributions(first.indptr, first.columns, values, intercept, BLEND, members)
    n_rows, n_features = len(rows), 1 + max(int(part.columns.max(initial=0)) for _, part in members)
    keys = np.concatenate([np.repeat(np.arange(n_rows), np.diff(part.indptr)) * n_features + part.columns for _, part in members])
    stacked = np.vstack([weight * part.values for weight, part in members])
    unique, inverse = np.unique(keys, return_inverse=True)
    values = np.zeros((len(unique), stacked.shape[1]))
    np.add.at(values, inverse, stacked)
    row_of = unique // n_features
    indptr = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=n_rows))))
    return Contributions(indptr, unique % n_features, values, intercept, BLEND, members)


def _centred(explained: Contributions) -> Contributions:
    # sum / n rather than .mean(): numpy's mean costs several µs a call in checks, and this runs per request.
    classes = explained.values.shape[1]
    explained.values = explained.values - explained.values.sum(axis=1, keepdims=True) / classes
    explained.intercept = explained.intercept - explained.intercept.sum(axis=1, keepdims=True) / classes
    return explained


def _rows_of(row: np.ndarray, n: int) -> np.ndarray:
    """`row` repeated n times (np.tile costs tens of µs a call in Python-level shape handling)."""
    return np.repeat(row[np.newaxis, :], n, axis=0)
