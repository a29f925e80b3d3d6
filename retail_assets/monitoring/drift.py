"""Feature drift: the population stability index (PSI) of each feature, training window vs serving.

Both sides are rows in the layout of the `features` table (`feature_names`/`feature_values` lists),
so a basket scored by the API and a basket the model was trained on are read the same way.
A "feature" here is what a person thinks of as one: `store_region` (over its values E01, E02, ...),
`product` (over the products in baskets), `log_spend` (over ten quantile bins of training).

    PSI = sum over bins of (serving share - training share) * ln(serving share / training share)

Under 0.1 is usually read as stable, 0.1-0.25 as a moderate shift, above 0.25 as a major one.
Written with polars rather than taken from a drift library (evidently and the like pull in a
large dependency tree for one formula).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

OTHER = "(other)"  # categories outside the training's most frequent ones
ABSENT = "(absent)"  # a basket without the feature (e.g. no customer segment: anonymous)
MAX_CATEGORIES = 30  # per feature; the rest share the OTHER bin, so thin bins do not dominate
QUANTILE_BINS = 10
SHARE_FLOOR = 1e-4  # an empty bin counts as this share, so the logarithm stays finite


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # "category" (one value per basket), "multi-category" (several: products), "numeric"
    psi: float
    bins: int
    largest_shift: str  # the bin that moved most, e.g. "store_region=E02 8.1% -> 41.0%"


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = SHARE_FLOOR) -> float:
    """The PSI of two histograms over the same bins (counts or shares)."""
    expected_share, actual_share = _shares(expected, floor), _shares(actual, floor)
    return float(np.sum((actual_share - expected_share) * np.log(actual_share / expected_share)))


def drift_by_feature(training: pl.DataFrame, serving: pl.DataFrame) -> list[FeatureDrift]:
    """Each training feature's PSI against serving, largest first."""
    train_long, serve_long = _long(training), _long(serving)
    drifts = [
        *_categorical(train_long, serve_long, training.height, serving.height),
        *_numeric(train_long, serve_long),
    ]
    return sorted(drifts, key=lambda d: d.psi, reverse=True)


def _long(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (basket, feature entry): `feature` (the part before '='), `category` (after it, or
    null for a numeric feature) and `value`."""
    return (
        frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "feature_names", "feature_values")
        .explode("feature_names", "feature_values")
        .drop_nulls("feature_names")
        .select(
            "row",
            pl.col("feature_names").str.split_exact("=", 1).struct.rename_fields(["feature", "category"]).alias("parts"),
            pl.col("feature_values").alias("value"),
        )
        .unnest("parts")
    )


def _categorical(train: pl.DataFrame, serve: pl.DataFrame, train_rows: int, serve_rows: int) -> list[FeatureDrift]:
    train, serve = train.filter(pl.col("category").is_not_null()), serve.filter(pl.col("category").is_not_null())
    multi = set(
        train.group_by("row", "feature").len().filter(pl.col("len") > 1).get_column("feature").unique().to_list()
    )
    train_counts = train.group_by("feature", "category").len()
    serve_counts = serve.group_by("feature", "category").len()
    drifts = []
    for (feature,), counts in train_counts.partition_by("feature", as_dict=True).items():
        kept = counts.sort("len", "category", descending=[True, False]).head(MAX_CATEGORIES).get_column("category").to_list()
        bins = [*kept, OTHER]
        expected = _binned(counts, kept)
        actual = _binned(serve_counts.filter(pl.col("feature") == feature), kept)
        if feature not in multi:  # one value per basket: a basket without it is a bin of its own
            bins.append(ABSENT)
            expected = np.append(expected, max(train_rows - expected.sum(), 0))
            actual = np.append(actual, max(serve_rows - actual.sum(), 0))
        labels = [b if b in (OTHER, ABSENT) else f"{feature}={b}" for b in bins]
        kind = "multi-category" if feature in multi else "category"
        drifts.append(_drift(feature, kind, expected, actual, labels))
    return drifts


def _binned(counts: pl.DataFrame, kept: list[str]) -> np.ndarray:
    by_category = dict(zip(counts.get_column("category").to_list(), counts.get_column("len").to_list(), strict=True))
    inside = np.array([by_category.pop(category, 0) for category in kept], dtype=float)
    return np.append(inside, float(sum(by_category.values())))


def _numeric(train: pl.DataFrame, serve: pl.DataFrame) -> list[FeatureDrift]:
    train, serve = train.filter(pl.col("category").is_null()), serve.filter(pl.col("category").is_null())
    drifts = []
    for (feature,), values in train.partition_by("feature", as_dict=True).items():
        train_values = values.get_column("value").to_numpy()
        serve_values = serve.filter(pl.col("feature") == feature).get_column("value").to_numpy()
        # Bin edges from the training quantiles; a discrete feature (log_lines) has fewer distinct ones.
        edges = np.unique(np.quantile(train_values, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1]))
        bins = len(edges) + 1
        expected = np.bincount(np.searchsorted(edges, train_values, side="right"), minlength=bins).astype(float)
        actual = np.bincount(np.searchsorted(edges, serve_values, side="right"), minlength=bins).astype(float)
        bounds = [-np.inf, *edges, np.inf]
        labels = [f"{feature} in ({low:.3g}, {high:.3g}]" for low, high in zip(bounds[:-1], bounds[1:], strict=True)]
        drifts.append(_drift(feature, "numeric", expected, actual, labels))
    return drifts


def _drift(feature: str, kind: str, expected: np.ndarray, actual: np.ndarray, labels: list[str]) -> FeatureDrift:
    if actual.sum() == 0:  # serving never showed this feature: nothing to compare
        return FeatureDrift(feature, kind, 0.0, len(labels), "not seen in serving")
    expected_share, actual_share = _shares(expected), _shares(actual)
    contributions = (actual_share - expected_share) * np.log(actual_share / expected_share)
    top = int(np.argmax(contributions))
    shift = f"{labels[top]} {expected[top] / expected.sum():.1%} -> {actual[top] / actual.sum():.1%}"
    return FeatureDrift(feature, kind, float(contributions.sum()), len(labels), shift)


def _shares(counts: np.ndarray, floor: float = SHARE_FLOOR) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    return np.maximum(counts / total if total > 0 else counts, floor)
