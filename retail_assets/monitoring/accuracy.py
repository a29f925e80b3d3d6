"""Live accuracy: the API's predictions scored against the labels that land with later weeks.

A basket's label (BASKET_PRICE_SENSITIVITY) arrives when its week lands in gold, days or weeks
after the API answered at checkout. Predictions are joined to gold by basket id; unclassified
(XX) baskets are left out, as from every model metric; a basket the same model scored twice
counts once (its latest answer). Scores come from the project's one metrics function
(training/metrics.py), so a live macro-F1 means what the test macro-F1 in metrics.json means.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from retail_training.metrics import evaluate
from retail_model.labels import CLASS_BY_CODE, UNCLASSIFIED_CODE


@dataclass(frozen=True)
class LabelledPredictions:
    frame: pl.DataFrame  # basket_id, model_version, predicted_code, shop_week, true_code
    awaiting_labels: int  # predicted baskets whose week has not landed yet
    unclassified: int  # predicted baskets whose label is XX (not scored)


def label_predictions(predictions: pl.LazyFrame, gold: pl.LazyFrame) -> LabelledPredictions:
    """Each model's latest answer per basket, with the basket's label and week from gold."""
    answers = (
        predictions.select("basket_id", "model_version", "predicted_code", "predicted_at")
        .sort("predicted_at")
        .group_by("basket_id", "model_version")
        .agg(pl.col("predicted_code").last())
    )
    labels = gold.select("basket_id", "shop_week", pl.col("basket_price_sensitivity").alias("true_code"))
    joined = answers.join(labels, on="basket_id", how="left").collect()
    unlabelled = joined.filter(pl.col("true_code").is_null())
    unclassified = joined.filter(pl.col("true_code") == UNCLASSIFIED_CODE)
    scored = joined.filter(pl.col("true_code").is_not_null() & (pl.col("true_code") != UNCLASSIFIED_CODE))
    return LabelledPredictions(scored.sort("shop_week", "basket_id"), unlabelled.height, unclassified.height)


def label_batch_predictions(batch: pl.LazyFrame) -> pl.DataFrame:
    """basket_predictions (batch scoring) in label_predictions' layout: the labels are in the same rows."""
    return (
        batch.filter(pl.col("true_code").is_not_null() & (pl.col("true_code") != UNCLASSIFIED_CODE))
        .select("basket_id", "model_version", "predicted_code", "shop_week", "true_code")
        .collect()
        .sort("shop_week", "basket_id")
    )


def weekly_scores(labelled: pl.DataFrame) -> pl.DataFrame:
    """One row per (week, model version): baskets, accuracy, macro-F1 and each class's precision and recall."""
    rows = []
    for (week, version), group in labelled.group_by("shop_week", "model_version", maintain_order=True):
        scores = evaluate(group.get_column("true_code").to_numpy(), group.get_column("predicted_code").to_numpy())
        row = {"shop_week": week, "model_version": version, "baskets": scores["n"], "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
        for name in CLASS_BY_CODE.values():
            per_class = scores["per_class"][name]
            row |= {f"{name} precision": per_class["precision"], f"{name} recall": per_class["recall"], f"{name} support": per_class["support"]}
        rows.append(row)
    if not rows:
        return pl.DataFrame(schema={"shop_week": pl.Int32(), "model_version": pl.String(), "baskets": pl.Int64()})
    return pl.DataFrame(rows).sort("shop_week", "model_version")


@dataclass(frozen=True)
class WindowScore:
    model_version: str
    weeks: list[int]  # the labelled weeks scored
    scores: dict  # training.metrics.evaluate's result


def latest_weeks_score(labelled: pl.DataFrame, model_version: str, weeks: int) -> WindowScore:
    """`model_version`'s scores over its latest `weeks` labelled weeks (all of them pooled)."""
    mine = labelled.filter(pl.col("model_version") == model_version)
    chosen = sorted(mine.get_column("shop_week").unique().to_list())[-weeks:]
    window = mine.filter(pl.col("shop_week").is_in(chosen))
    scores = evaluate(window.get_column("true_code").to_numpy(), window.get_column("predicted_code").to_numpy())
    return WindowScore(model_version, chosen, scores)
