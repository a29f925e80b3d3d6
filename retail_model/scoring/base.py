"""What every compiled scorer shares: the contract, the feature front end, and the fallback.

A `Scorer` answers exactly the question `pipeline.predict_proba(rows)` answers (one row per
feature dict, one column per class in the pipeline's order, rows summing to 1) but without
scikit-learn's per-call overhead, which is most of the cost of scoring one basket.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from functools import cached_property
from itertools import chain, repeat
from typing import Any

import numpy as np

from retail_model.basket import Basket
from retail_model.features.columns import BasketColumns, Parts

FeatureRows = Sequence[Mapping[str, float]]


class CompileError(Exception):
    """The pipeline has a step or setting the compiled scorers do not reproduce exactly."""


class Scorer(ABC):
    """Class probabilities for feature dicts: shape (rows, classes), float64, each row summing to 1."""

    kind: str  # what was compiled: "linear", "calibrated_linear", "constant", "trees", "soft_vote" or "pipeline"
    # The front end the scorer reads rows through, when it scores gathered CSR parts
    # (`probabilities_of`); None for a scorer that needs the feature dicts themselves.
    space: FeatureSpace | None = None

    @abstractmethod
    def probabilities(self, rows: FeatureRows) -> np.ndarray: ...

    def probabilities_of(self, parts: Parts) -> np.ndarray:
        """The probabilities of rows gathered through `space`: the same floats as `probabilities` of those rows."""
        raise NotImplementedError(f"the {self.kind} scorer reads feature dicts only (its space is None)")

    def probabilities_one(self, row: Mapping[str, float]) -> list[float]:
        """One row's probabilities as a list; scorers override it where plain Python beats numpy's per-call cost."""
        return self.probabilities([row])[0].tolist()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r})"


class GatheringScorer(Scorer):
    """A scorer of CSR parts: `probabilities(rows)` is `probabilities_of(space.gather(rows))`, one path for both."""

    space: FeatureSpace

    def probabilities(self, rows: FeatureRows) -> np.ndarray:
        return self.probabilities_of(self.space.gather(rows))

    @abstractmethod
    def probabilities_of(self, parts: Parts) -> np.ndarray: ...


class PipelineScorer(Scorer):
    """The generic fallback: the fitted pipeline's own `predict_proba`, for steps nothing compiles."""

    kind = "pipeline"

    def __init__(self, pipeline: Any, reason: str = "") -> None:
        self.pipeline = pipeline
        self.reason = reason  # why the fast path was not used, for logs and /v1/model

    def probabilities(self, rows: FeatureRows) -> np.ndarray:
        return normalised(np.asarray(self.pipeline.predict_proba(list(rows)), dtype=np.float64))


class FeatureSpace:
    """The DictVectorizer (and optional MaxAbsScaler) at the front of a pipeline, as lookups.

    Values go through the vectorizer's dtype and the scaler's multiplication in that dtype, as
    scikit-learn computes them, so the numbers reaching the classifier are bit-for-bit the same.
    """

    def __init__(self, vectorizer: Any, scaler: Any | None = None) -> None:
        vocabulary = getattr(vectorizer, "vocabulary_", None)
        if not isinstance(vocabulary, dict):
            raise CompileError("the DictVectorizer is not fitted")
        self.vocabulary: dict[str, int] = vocabulary
        self.n_features = len(vectorizer.feature_names_)
        self.dtype = np.dtype(vectorizer.dtype)
        # A dense vectorizer hands 0.0 for absent features; a sparse one leaves them out, which
        # tree libraries read as "missing", not zero.
        self.sparse = bool(vectorizer.sparse)
        # MaxAbsScaler multiplies the stored values by 1 / scale_ in place (kept in X's dtype).
        self.inverse_scale = None if scaler is None else 1.0 / np.asarray(scaler.scale_)

    def gather(self, rows: FeatureRows) -> Parts:
        """CSR parts (indptr, column indices, float64 values) of the rows as the classifier sees them.

        The name lookups run in C (map over dict.get, numpy.fromiter): a Python loop over every
        feature of every basket would cost more than the scoring itself.
        """
        lengths = np.fromiter(map(len, rows), dtype=np.intp, count=len(rows))
        total = int(lengths.sum())
        get = self.vocabulary.get
        columns = np.fromiter(chain.from_iterable(map(get, row, repeat(-1)) for row in rows), dtype=np.intp, count=total)
        values = np.fromiter(chain.from_iterable(row.values() for row in rows), dtype=np.float64, count=total)
        known = columns >= 0  # names the vectorizer never saw are ignored, as DictVectorizer does
        per_row = np.bincount(np.repeat(np.arange(len(rows)), lengths)[known], minlength=len(rows))
        indptr = np.concatenate(([0], np.cumsum(per_row)))
        columns = columns[known]
        return indptr, columns, self._as_seen(columns, values[known])

    def gather_baskets(self, baskets: Sequence[Basket]) -> Parts:
        """`gather([basket_features(b) for b in baskets])`, bit for bit, without building the dicts (BasketColumns)."""
        indptr, columns, values = self.basket_columns.parts(baskets)
        return indptr, columns, self._as_seen(columns, values)

    @cached_property
    def basket_columns(self) -> BasketColumns:
        """The vocabulary compiled into lookups by raw code, on first use (a race only compiles it twice)."""
        return BasketColumns(self.vocabulary)

    def _as_seen(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The known features' float64 values as the classifier receives them."""
        data = values.astype(self.dtype)  # DictVectorizer stores dtype(value)
        if self.inverse_scale is not None:
            data = (data * self.inverse_scale[columns]).astype(self.dtype, copy=False)
        return data.astype(np.float64, copy=False)


def normalised(probabilities: np.ndarray) -> np.ndarray:
    """Each row divided by its sum, as PriceSensitivityModel has always reported them."""
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities




def softmax(margins: np.ndarray) -> np.ndarray:
    """scikit-learn's softmax, step for step, without its array-API dispatch (a few µs a call)."""
    margins = margins - margins.max(axis=1, keepdims=True)
    np.exp(margins, out=margins)
    margins /= margins.sum(axis=1, keepdims=True)
    return margins


class ConstantScorer(Scorer):
    """A classifier whose answer ignores the features (DummyClassifier's prior or most frequent class)."""

    kind = "constant"

    def __init__(self, probabilities: np.ndarray) -> None:
        self.row = np.asarray(probabilities, dtype=np.float64)

    def probabilities(self, rows: FeatureRows) -> np.ndarray:
        return normalised(np.tile(self.row, (len(rows), 1)))
