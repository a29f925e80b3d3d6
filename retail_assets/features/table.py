"""Gold baskets -> the model-ready feature table, through the feature code the API also runs."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from retail_model import FEATURE_VERSION, Basket, BasketLine, Customer, basket_features

FEATURE_TABLE_SCHEMA = {
    "basket_id": pl.String(),
    "shop_week": pl.Int32(),
    "basket_price_sensitivity": pl.String(),
    "feature_names": pl.List(pl.String()),
    "feature_values": pl.List(pl.Float64()),
    "feature_version": pl.String(),  # the feature-set version of retail_model.features that computed the row
}


def basket_from_gold(row: Mapping) -> Basket:
    """A gold row as the basket stood at checkout. The label columns are not carried over."""
    customer = None
    if row["cust_code"]:
        customer = Customer(row["cust_code"], row["cust_price_sensitivity"], row["cust_lifestage"])
    lines = tuple(
        BasketLine(
            prod_code=line["prod_code"],
            prod_code_10=line["prod_code_10"],
            prod_code_20=line["prod_code_20"],
            prod_code_30=line["prod_code_30"],
            prod_code_40=line["prod_code_40"],
            quantity=line["quantity"],
            spend=line["spend"],
        )
        for line in row["lines"]
    )
    return Basket(
        shop_date=row["shop_date"],
        shop_hour=row["shop_hour"],
        store_code=row["store_code"],
        store_format=row["store_format"],
        store_region=row["store_region"],
        basket_size=row["basket_size"],
        basket_type=row["basket_type"],
        basket_dominant_mission=row["basket_dominant_mission"],
        customer=customer,
        lines=lines,
    )


def build_feature_table(gold: pl.DataFrame) -> pl.DataFrame:
    names: list[list[str]] = []
    values: list[list[float]] = []
    for row in gold.iter_rows(named=True):
        features = basket_features(basket_from_gold(row))
        names.append(list(features))
        values.append(list(features.values()))
    return pl.DataFrame(
        {
            "basket_id": gold["basket_id"],
            "shop_week": gold["shop_week"],
            "basket_price_sensitivity": gold["basket_price_sensitivity"],
            "feature_names": names,
            "feature_values": values,
            "feature_version": [FEATURE_VERSION] * gold.height,
        },
        schema=FEATURE_TABLE_SCHEMA,
    ).sort("shop_week", "basket_id")
