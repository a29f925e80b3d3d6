"""The release smoke test: a candidate model must answer real gold baskets as the API would."""

from __future__ import annotations

import polars as pl

from retail_model.features.table import basket_from_gold
from retail_assets.lake import tables
from retail_model.artifact import PriceSensitivityModel
from retail_model.basket import Basket
from retail_model.labels import UNCLASSIFIED_CODE
from retail_model.lake import Lake


class SmokeTestError(Exception):
    """The model loaded but did not give sane answers on real baskets."""


def gold_sample(lake: Lake, n: int = 20) -> list[Basket]:
    gold = lake.scan(tables.GOLD)
    if gold is None:
        return []
    rows = gold.filter(pl.col("basket_price_sensitivity") != UNCLASSIFIED_CODE).head(n).collect()
    return [basket_from_gold(row) for row in rows.iter_rows(named=True)]


def answers_real_baskets(model: PriceSensitivityModel, baskets: list[Basket]) -> int:
    """Predict `baskets`; raise SmokeTestError unless every answer is a distribution over the classes."""
    if not baskets:
        raise SmokeTestError("there are no gold baskets to try the model on")
    predictions = model.predict(baskets)
    bad = [p for p in predictions if abs(sum(p.probabilities.values()) - 1.0) > 1e-6]
    if len(predictions) != len(baskets) or bad:
        raise SmokeTestError(f"{len(bad)} of {len(baskets)} answers are not probability distributions")
    return len(predictions)
