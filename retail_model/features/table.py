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
    Each basket's lines are worked on where they are (list expressions over gold's `lines`), not
    exploded, grouped and joined back, and the names are joined into one string per basket and
    split once (what cost most of the features step before).
    Spend is summed in line order (a cumulative sum), as the per-basket code adds it, so even
    the floating-point rounding agrees.
    """
    line = pl.element().struct.field

    def product(level: str, prefix: str) -> pl.Expr:
        code = line(level)
        # basket_features skips a level that is missing or empty; prod_code itself is required.
        named = pl.concat_str(pl.lit(prefix), code)
        return pl.col("lines").list.eval(named if level == "prod_code" else pl.when(code != "").then(named))

    # A product bought on two lines is one feature, as in a dict.
    products = pl.concat_list(
        product("prod_code", "product="), product("prod_code_10", "product_10="), product("prod_code_20", "product_20=")
    ).list.drop_nulls().list.unique(maintain_order=True)
    n_lines = pl.col("lines").list.len()
    total_quantity = pl.col("lines").list.eval(line("quantity").sum()).list.first()
    total_spend = pl.col("lines").list.eval(line("spend").cum_sum().last()).list.first()  # in line order
    anonymous = pl.col("cust_code").is_null() | (pl.col("cust_code") == "")

    def indicator(name: str, value: pl.Expr) -> pl.Expr:
        return pl.concat_str(pl.lit(f"{name}="), value)

    weekday = (pl.col("shop_date").dt.weekday() % 7 + 1).cast(pl.String())  # dunnhumby: 1 = Sunday
    hour_band = pl.when(pl.col("shop_hour") < 12).then(pl.lit("morning")).when(pl.col("shop_hour") < 17).then(
        pl.lit("afternoon")
    ).otherwise(pl.lit("evening"))
    # The names are built as one string per basket and split once: polars' concat_list of string
    # columns cost 3 to 5x more than this. No value can hold the separator: the reader parses
    # each physical CSV line on its own, and the count below would catch one anyway.
    separator = "\n"
    customer = pl.when(anonymous).then(pl.lit("customer=anonymous")).otherwise(
        pl.concat_str(
            indicator("customer_price_sensitivity", pl.col("cust_price_sensitivity").fill_null("XX")),
            indicator("customer_lifestage", pl.col("cust_lifestage").fill_null("XX")),
            separator=separator,
        )
    )
    measure_names = ["log_lines", "log_quantity", "log_spend", "log_spend_per_item"]
    names = pl.concat_str(
        indicator("store_format", pl.col("store_format")),
        indicator("store_region", pl.col("store_region")),
        indicator("basket_size", pl.col("basket_size")),
        indicator("basket_type", pl.col("basket_type")),
        indicator("basket_dominant_mission", pl.col("basket_dominant_mission")),
        indicator("shop_weekday", weekday),
        indicator("shop_hour_band", hour_band),
        customer,
        pl.col("products").list.join(separator),
        pl.lit(separator.join(measure_names)),
        separator=separator,
    ).str.split(separator)
    expected = 7 + pl.when(anonymous).then(1).otherwise(2) + pl.col("products").list.len() + len(measure_names)
    positive_spend = pl.max_horizontal(pl.col("spend"), pl.lit(0.0))
    quantity = pl.max_horizontal(pl.col("quantity"), pl.lit(0)).cast(pl.Float64())
    measures = [
        pl.col("n_lines").cast(pl.Float64()).log1p(),
        quantity.log1p(),
        positive_spend.log1p(),
        (positive_spend / pl.max_horizontal(pl.col("quantity"), pl.lit(1)).cast(pl.Float64())).log1p(),
    ]
    indicator_count = pl.col("feature_names").list.len() - len(measure_names)
    table = (
        gold.lazy()
        .with_columns(products.alias("products"), n_lines.alias("n_lines"), total_quantity.alias("quantity"), total_spend.alias("spend"))
        .with_columns(names.alias("feature_names"), expected.alias("expected"))
        .select(
            "basket_id",
            "shop_week",
            "basket_price_sensitivity",
            "feature_names",
            pl.concat_list(pl.lit(1.0).repeat_by(indicator_count), *measures).alias("feature_values"),
            pl.lit(FEATURE_VERSION).alias("feature_version"),
            (pl.col("feature_names").list.len() != pl.col("expected")).alias("split_wrong"),
        )
    )
    table = table.collect()
    if table["split_wrong"].any():
        raise ValueError("a gold value holds a line break, which no landed CSV line can: rebuild gold from raw")
    table = table.drop("split_wrong")
    return table.cast(FEATURE_TABLE_SCHEMA).sort("shop_week", "basket_id")
