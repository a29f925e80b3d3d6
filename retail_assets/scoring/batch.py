"""Batch scoring: every gold basket of a week scored by the serving model, as the API scores it.

The features are the pipeline's bulk implementation (retail_model.features.table, proven equal to
the API's per basket), the probabilities come from the model's compiled scorer (`model.score`,
the API's path) and each basket carries its top-3 contributions per class (`model.explain`).
The week's labels are in the same gold rows, so every row also holds the true code: live
accuracy reads it without waiting for the API's traffic. No Dagster import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from retail_model.artifact import METRICS_FILE_NAME, PriceSensitivityModel, model_key
from retail_model.features.table import build_feature_table
from retail_model.labels import CLASS_BY_CODE
from retail_model.lake import Lake

BASKET_PREDICTIONS_TABLE = "basket_predictions"
GOLD_TABLE = "gold"
PARTITION_BY = ("shop_week",)
EXPLAIN_TOP = 3
ROWS_PER_CALL = 5_000  # baskets per scorer call: big enough for numpy, small enough for memory

CONTRIBUTION = pl.Struct({"class": pl.String(), "feature": pl.String(), "contribution": pl.Float64()})
SCHEMA: dict[str, pl.DataType] = {
    "shop_week": pl.Int32(),
    "basket_id": pl.String(),
    "model_version": pl.String(),
    "feature_version": pl.String(),
    "predicted_code": pl.String(),  # LA / MM / UM
    "price_sensitivity": pl.String(),  # High / Medium / Low
    "probability_high": pl.Float64(),
    "probability_medium": pl.Float64(),
    "probability_low": pl.Float64(),
    "true_code": pl.String(),  # the basket's label from gold (XX: unclassified)
    "explanation_link": pl.String(),  # softmax / calibrated / blend, as in the API's answers
    "top_contributions": pl.List(CONTRIBUTION),  # each class's 3 largest by magnitude
    "scored_at": pl.Datetime("us", "UTC"),
}


class BatchScoringError(Exception):
    """What batch scoring needs is missing; the message says what to materialize."""


def gold_week(lake: Lake, week: int) -> pl.DataFrame:
    gold = lake.scan(GOLD_TABLE)
    if gold is None:
        raise BatchScoringError(f"{lake.table_uri(GOLD_TABLE)} does not exist: materialize gold_baskets first")
    return gold.filter(pl.col("shop_week") == week).collect()


def score_baskets(gold: pl.DataFrame, model: PriceSensitivityModel, scored_at: datetime | None = None) -> pl.DataFrame:
    """One row per gold basket: the serving model's answer, its top-3 contributions per class, the label."""
    features = build_feature_table(gold)
    names, values = features.get_column("feature_names").to_list(), features.get_column("feature_values").to_list()
    codes: list[str] = []
    probabilities: list[list[float]] = []
    # The contributions column as flat lists and offsets: building it from a dict per contribution
    # cost more than scoring and explaining together.
    offsets, classes, feature_names, contributions = [0], [], [], []
    link = ""
    for start in range(0, len(names), ROWS_PER_CALL):
        rows = [dict(zip(n, v, strict=True)) for n, v in zip(names[start : start + ROWS_PER_CALL], values[start : start + ROWS_PER_CALL], strict=True)]
        winners, matrix = model.score(rows)
        link, explained = model.explain(rows, EXPLAIN_TOP)
        codes += winners
        probabilities += matrix
        for row in explained:
            for name, cls in row.items():
                classes += [name] * len(cls.top)
                feature_names += [feature for feature, _ in cls.top]
                contributions += [contribution for _, contribution in cls.top]
            offsets.append(len(contributions))
    n = features.height
    top = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()),
        pa.StructArray.from_arrays([pa.array(classes, pa.string()), pa.array(feature_names, pa.string()), pa.array(contributions, pa.float64())],
                                   names=["class", "feature", "contribution"]),
    )  # fmt: skip
    matrix = pl.DataFrame(probabilities or None, schema=["probability_high", "probability_medium", "probability_low"], orient="row")
    return pl.DataFrame(
        {
            "shop_week": features.get_column("shop_week"),
            "basket_id": features.get_column("basket_id"),
            "model_version": [model.version] * n,
            "feature_version": [model.feature_version] * n,
            "predicted_code": codes,
            "price_sensitivity": [CLASS_BY_CODE[code] for code in codes],
            "true_code": features.get_column("basket_price_sensitivity"),
            "explanation_link": [link] * n,
            "top_contributions": pl.Series("top_contributions", top).cast(pl.List(CONTRIBUTION)),
            "scored_at": [scored_at or datetime.now(UTC)] * n,
        }
    ).hstack(matrix if n else matrix.clear()).select(list(SCHEMA)).cast(SCHEMA)  # type: ignore[arg-type]


def write_weeks(lake: Lake, frames: dict[int, pl.DataFrame]) -> int:
    """Replace the weeks' partitions of basket_predictions in one commit; returns the table version."""
    frame = pl.concat(list(frames.values())) if frames else pl.DataFrame(schema=SCHEMA)
    return lake.replace_partitions(BASKET_PREDICTIONS_TABLE, frame, list(PARTITION_BY), [{"shop_week": week} for week in frames])


def weeks_since_training(lake: Lake, model_version: str, weeks: list[int]) -> list[int]:
    """The weeks after the model's last training week (all of them when it records none)."""
    metrics = lake.read_json(model_key(model_version, METRICS_FILE_NAME)) or {}
    trained = (metrics.get("split") or {}).get("train_weeks") or []
    last = max((int(w) for w in trained), default=None)
    return sorted(w for w in weeks if last is None or w > last)


@dataclass(frozen=True)
class WeekCheck:
    week: int
    gold_baskets: int
    predictions: int
    unique_predicted: int
    missing: int  # gold baskets with no prediction
    versions: list[str]

    @property
    def one_per_basket(self) -> bool:
        return self.predictions == self.unique_predicted == self.gold_baskets and self.missing == 0


def check_weeks(lake: Lake, weeks: list[int]) -> list[WeekCheck]:
    """What the table holds for each week against gold's baskets of that week."""
    table, gold = lake.scan(BASKET_PREDICTIONS_TABLE), lake.scan(GOLD_TABLE)
    if table is None or gold is None:
        raise BatchScoringError("basket_predictions or gold is missing: materialize gold_baskets, then basket_predictions")
    out = []
    for week in weeks:
        scored = table.filter(pl.col("shop_week") == week).select("basket_id", "model_version").collect()
        baskets = gold.filter(pl.col("shop_week") == week).select("basket_id").collect()
        missing = baskets.join(scored, on="basket_id", how="anti").height
        out.append(WeekCheck(week, baskets.height, scored.height, scored.get_column("basket_id").n_unique(), missing,
                             sorted(scored.get_column("model_version").unique().to_list())))  # fmt: skip
    return out
