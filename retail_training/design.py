"""The train channel as one sparse matrix, and the feature sets the search chooses between.

The feature table holds each basket's features as two list columns (names, values). They are
turned into a CSR matrix with polars and numpy directly: building a Python dict per basket for
a DictVectorizer cost most of a real-size job (370 k baskets). The vocabulary is the train
channel's (sorted, as DictVectorizer sorts it); the artefact still holds a fitted DictVectorizer
and MaxAbsScaler, built from the chosen feature set's columns, so the API serves whatever wins.

Feature sets are `+`-joined families of the feature table's names:
- `products`: `product=<PROD_CODE>`, one indicator per product in the basket (presence);
- `hierarchy`: `product_10=` and `product_20=` indicators (the product's class and department);
- `basket`: everything else: store, basket size/type/mission, weekday, hour band, customer
  segment and lifestage, and the log counts and spend (lines, quantity, spend, spend per item).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import sparse
from sklearn.feature_extraction import DictVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler

FAMILIES = ("products", "hierarchy", "basket")
UNSCALED = ("baseline", "xgboost")  # trees and the constant model gain nothing from scaling


class FeatureSetError(ValueError):
    """A feature set names a family that does not exist."""


def parse_feature_set(text: str) -> tuple[str, ...]:
    families = tuple(part.strip() for part in text.split("+") if part.strip())
    unknown = [f for f in families if f not in FAMILIES]
    if not families or unknown:
        raise FeatureSetError(f"feature set {text!r}: join families from {FAMILIES} with '+', e.g. 'products+basket'")
    return families


def family_of(names: np.ndarray) -> np.ndarray:
    """Each feature name's family."""
    names = names.astype(str)
    products = np.char.startswith(names, "product=")
    hierarchy = np.char.startswith(names, "product_10=") | np.char.startswith(names, "product_20=")
    return np.where(products, "products", np.where(hierarchy, "hierarchy", "basket"))


def feature_matrix(frame: pl.DataFrame, vocabulary: dict[str, int] | None = None) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(matrix, names) of a channel's rows; with `vocabulary`, names outside it are dropped."""
    lengths = frame["feature_names"].list.len().fill_null(0).to_numpy()
    if not np.array_equal(lengths, frame["feature_values"].list.len().fill_null(0).to_numpy()):
        bad = int(np.flatnonzero(lengths != frame["feature_values"].list.len().fill_null(0).to_numpy())[0])
        raise ValueError(f"basket {frame['basket_id'][bad]} has {lengths[bad]} feature names but {frame['feature_values'].list.len()[bad]} values")
    names = frame["feature_names"].explode().drop_nulls()
    values = frame["feature_values"].explode().drop_nulls().to_numpy()
    rows = np.repeat(np.arange(frame.height), lengths)
    if vocabulary is None:
        vocabulary_names = names.unique().sort()
        columns = names.to_frame("name").join(
            vocabulary_names.to_frame("name").with_row_index("column"), on="name", how="left", maintain_order="left"
        )["column"].to_numpy()
        names_out = vocabulary_names.to_numpy().astype(object)
    else:
        known = pl.DataFrame({"name": list(vocabulary), "column": list(vocabulary.values())}, schema={"name": pl.String, "column": pl.UInt32})
        column = names.to_frame("name").join(known, on="name", how="left", maintain_order="left")["column"]
        keep = column.is_not_null().to_numpy()
        rows, values, columns = rows[keep], values[keep], column.drop_nulls().to_numpy()
        names_out = np.array(sorted(vocabulary, key=vocabulary.get), dtype=object)
    matrix = sparse.csr_matrix((values.astype(np.float64), (rows, columns.astype(np.int64))), shape=(frame.height, len(names_out)))
    return matrix, names_out


@dataclass
class View:
    """One feature set's columns of the design: raw and scaled matrices, and the artefact's steps."""

    feature_set: str
    columns: np.ndarray
    names: np.ndarray
    raw: sparse.csr_matrix
    scaler: MaxAbsScaler
    scaled: sparse.csr_matrix

    def matrix(self, name: str) -> sparse.csr_matrix:
        return self.raw if name in UNSCALED else self.scaled

    def transform(self, full: sparse.csr_matrix) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """Another channel's design matrix (same vocabulary) in this view: (raw, scaled)."""
        raw = full[:, self.columns].tocsr()
        return raw, self.scaler.transform(raw).tocsr()

    def pipeline(self, name: str, classifier) -> Pipeline:
        """The fitted steps in front of a fitted classifier: what the model artefact holds."""
        vectorizer = DictVectorizer()
        vectorizer.feature_names_ = [str(n) for n in self.names]
        vectorizer.vocabulary_ = {n: i for i, n in enumerate(vectorizer.feature_names_)}
        steps = [("vectorize", vectorizer)]
        if name not in UNSCALED:
            steps.append(("scale", self.scaler))
        return Pipeline([*steps, ("classify", classifier)])


@dataclass
class Design:
    """The train channel's rows over its whole vocabulary; views select a feature set's columns."""

    names: np.ndarray
    raw: sparse.csr_matrix
    families: np.ndarray = field(init=False)
    _views: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.families = family_of(self.names)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> Design:
        matrix, names = feature_matrix(frame)
        return cls(names, matrix)

    @property
    def vocabulary(self) -> dict[str, int]:
        return {str(n): i for i, n in enumerate(self.names)}

    def view(self, feature_set: str) -> View:
        if feature_set not in self._views:
            columns = np.flatnonzero(np.isin(self.families, parse_feature_set(feature_set)))
            raw = self.raw[:, columns].tocsr()
            scaler = MaxAbsScaler().fit(raw)
            self._views[feature_set] = View(feature_set, columns, self.names[columns], raw, scaler, scaler.transform(raw).tocsr())
        return self._views[feature_set]
