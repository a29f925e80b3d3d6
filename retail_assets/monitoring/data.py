"""What monitoring reads from the lake: the served model's training rows and the recent prediction log.

The training rows are read back exactly as the model saw them: the `features` table at the Delta
version its metrics.json records, cut to its training weeks. Both sides are capped at a seeded
sample of `MAX_ROWS` baskets, which keeps a PSI's precision far beyond its thresholds while
memory stays flat however large the lake grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from retail_model.artifact import METRICS_FILE_NAME, model_key
from retail_model.lake import Lake
from retail_model.predictions import PREDICTIONS_TABLE

FEATURES_TABLE = "features"
GOLD_TABLE = "gold"
BASKET_PREDICTIONS_TABLE = "basket_predictions"  # retail_assets.scoring.batch writes it
MAX_ROWS = 200_000
_SAMPLE_SEED = 20


class MonitoringDataError(Exception):
    """What monitoring needs is missing from the lake; the message says what to materialize or fix."""


@dataclass(frozen=True)
class TrainingWindow:
    rows: pl.DataFrame  # basket_id, shop_week, feature_names, feature_values (a sample when large)
    baskets: int  # training baskets before sampling
    features_version: int
    weeks: list[int]
    feature_version: str


def training_window(lake: Lake, model_version: str) -> TrainingWindow:
    metrics = lake.read_json(model_key(model_version, METRICS_FILE_NAME))
    if metrics is None:
        raise MonitoringDataError(f"model {model_version} has no metrics.json in {lake.uri_of(model_key(model_version))}")
    version = metrics.get("data_versions", {}).get(FEATURES_TABLE)
    weeks = metrics.get("split", {}).get("train_weeks") or []
    if version is None or not weeks:
        raise MonitoringDataError(
            f"model {model_version}'s metrics.json records no features table version or training weeks "
            "(data_versions.features, split.train_weeks): retrain it so its training data can be read back"
        )
    try:
        frame = lake.scan(FEATURES_TABLE, version=int(version))
    except Exception as error:  # deltalake raises its own types for a vacuumed or unknown version
        raise MonitoringDataError(
            f"cannot read version {version} of {lake.table_uri(FEATURES_TABLE)}, which model {model_version} was trained on "
            f"({error}); was the table vacuumed? Retrain the model on the current table"
        ) from error
    if frame is None:
        raise MonitoringDataError(f"{lake.table_uri(FEATURES_TABLE)} does not exist: materialize basket_features first")
    rows = frame.filter(pl.col("shop_week").is_in(weeks)).select("basket_id", "shop_week", "feature_names", "feature_values").collect()
    return TrainingWindow(_sample(rows), rows.height, int(version), sorted(weeks), str(metrics.get("feature_version", "")))


@dataclass(frozen=True)
class RecentPredictions:
    rows: pl.DataFrame  # the predictions table's columns (a sample when large)
    predictions: int  # rows in the window before sampling
    first_day: date
    other_feature_versions: int  # rows left out: computed by another feature-set version


def recent_predictions(lake: Lake, today: date, days: int, feature_version: str) -> RecentPredictions:
    """Predictions made on the last `days` days up to `today`, computed by `feature_version`."""
    first_day = today - timedelta(days=days - 1)
    frame = lake.scan(PREDICTIONS_TABLE)
    if frame is None:
        return RecentPredictions(pl.DataFrame(schema={"feature_names": pl.List(pl.String()), "feature_values": pl.List(pl.Float64())}), 0, first_day, 0)
    window = frame.filter(pl.col("date").is_between(first_day, today)).select("basket_id", "feature_version", "feature_names", "feature_values").collect()
    same = window.filter(pl.col("feature_version") == feature_version)
    return RecentPredictions(_sample(same), same.height, first_day, window.height - same.height)


def predictions_and_labels(lake: Lake) -> tuple[pl.LazyFrame | None, pl.LazyFrame | None]:
    """The whole prediction log and gold's labels, or None for a table not written yet."""
    return lake.scan(PREDICTIONS_TABLE), lake.scan(GOLD_TABLE)


def batch_predictions(lake: Lake) -> pl.LazyFrame | None:
    """basket_predictions (gold baskets scored in batch, with their labels), or None before the first run."""
    return lake.scan(BASKET_PREDICTIONS_TABLE)


def _sample(rows: pl.DataFrame) -> pl.DataFrame:
    return rows if rows.height <= MAX_ROWS else rows.sample(n=MAX_ROWS, seed=_SAMPLE_SEED)
