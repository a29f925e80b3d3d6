"""Gold baskets -> the model-ready feature table, in bulk: the implementation the pipeline runs.

The same definition as basket.py (the API's, one basket at a time), proven equal on every basket
by tests/model/features/test_parity.py.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from retail_model.basket import Basket, BasketLine, Customer
from retail_model.features.basket import FEATURE_VERSION

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


def build_feature_table(gold: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Every basket's features, computed in bulk with polars expressions.

    The same features `basket_features` (basket.py) computes for one basket at
    checkout (the API's path), to the last bit: the parity test compares them for every basket.
    Lines are exploded once; spend is summed in line order (a cumulative sum), as the per-basket
    code adds it, so even the floating-point rounding agrees.
    """
    gold = gold.lazy()
    lines = gold.select("basket_id", "lines").explode("lines").unnest("lines")
    products = pl.concat(
        [
            lines.select("basket_id", pl.concat_str(pl.lit("product="), "prod_code").alias("name")),
            *(
                lines.filter(pl.col(level).is_not_null() & (pl.col(level) != "")).select(
                    "basket_id", pl.concat_str(pl.lit(f"product_{level[-2:]}="), level).alias("name")
                )
                for level in ("prod_code_10", "prod_code_20")
            ),
        ]
    )
    per_basket = products.group_by("basket_id").agg(pl.col("name").unique().alias("products")).join(
        lines.group_by("basket_id").agg(
            pl.len().alias("n_lines"),
            pl.col("quantity").sum().alias("quantity"),
            pl.col("spend").cum_sum().last().alias("spend"),  # in line order, as basket_features adds
        ),
        on="basket_id",
    )
    anonymous = pl.col("cust_code").is_null() | (pl.col("cust_code") == "")

    def indicator(name: str, value: pl.Expr) -> pl.Expr:
        return pl.concat_str(pl.lit(f"{name}="), value)

    weekday = (pl.col("shop_date").dt.weekday() % 7 + 1).cast(pl.String())  # dunnhumby: 1 = Sunday
    hour_band = pl.when(pl.col("shop_hour") < 12).then(pl.lit("morning")).when(pl.col("shop_hour") < 17).then(
        pl.lit("afternoon")
    ).otherwise(pl.lit("evening"))
    customer = pl.when(anonymous).then(pl.concat_list(pl.lit("customer=anonymous"))).otherwise(
        pl.concat_list(
            indicator("customer_price_sensitivity", pl.col("cust_price_sensitivity").fill_null("XX")),
            indicator("customer_lifestage", pl.col("cust_lifestage").fill_null("XX")),
        )
    )
    indicators = pl.concat_list(
        indicator("store_format", pl.col("store_format")),
        indicator("store_region", pl.col("store_region")),
        indicator("basket_size", pl.col("basket_size")),
        indicator("basket_type", pl.col("basket_type")),
        indicator("basket_dominant_mission", pl.col("basket_dominant_mission")),
        indicator("shop_weekday", weekday),
        indicator("shop_hour_band", hour_band),
        customer,
        pl.col("products"),  # a product bought on two lines is one feature, as in a dict
    )
    positive_spend = pl.max_horizontal(pl.col("spend"), pl.lit(0.0))
    quantity = pl.max_horizontal(pl.col("quantity"), pl.lit(0)).cast(pl.Float64())
    measures = pl.concat_list(
        pl.col("n_lines").cast(pl.Float64()).log1p(),
        quantity.log1p(),
        positive_spend.log1p(),
        (positive_spend / pl.max_horizontal(pl.col("quantity"), pl.lit(1)).cast(pl.Float64())).log1p(),
    )
    measure_names = pl.lit(["log_lines", "log_quantity", "log_spend", "log_spend_per_item"], dtype=pl.List(pl.String()))
    table = gold.drop("lines").join(per_basket, on="basket_id", how="left").select(
        "basket_id",
        "shop_week",
        "basket_price_sensitivity",
        pl.concat_list(indicators, measure_names).alias("feature_names"),
        pl.concat_list(pl.lit(1.0).repeat_by(indicators.list.len()), measures).alias("feature_values"),
        pl.lit(FEATURE_VERSION).alias("feature_version"),
    )
    return table.collect().cast(FEATURE_TABLE_SCHEMA).sort("shop_week", "basket_id")
