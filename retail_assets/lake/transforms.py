"""Silver lines and gold baskets: plain polars transformations."""

from __future__ import annotations

import polars as pl

from retail_assets.ingest import contract

# Week first: the next hop reads week ranges, and sorted small row groups let it skip the rest.
SILVER_ORDER = ["shop_week", "basket_id", "prod_code"]

# Gold keeps one row per basket: the basket-level columns, simple totals and the lines themselves,
# because the product mix is what predicts the label.
BASKET_LEVEL = [name.lower() for name in contract.BASKET_COLUMNS]
LINE_FIELDS = [name.lower() for name in contract.LINE_COLUMNS]


def normalised_lines(raw: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Anonymous shoppers carry no segment, whatever the extract put beside an empty CUST_CODE."""
    anonymous = pl.col("cust_code").is_null()
    return raw.with_columns(
        pl.when(anonymous).then(None).otherwise(pl.col("cust_price_sensitivity")).alias("cust_price_sensitivity"),
        pl.when(anonymous).then(None).otherwise(pl.col("cust_lifestage")).alias("cust_lifestage"),
    )


def silver_from_raw(raw: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Clean, normalised lines, ordered for stable files."""
    return normalised_lines(raw).sort(SILVER_ORDER)


def gold_from_silver(silver: pl.DataFrame) -> pl.DataFrame:
    """One row per BASKET_ID. `inconsistent_columns` counts basket-level columns that vary across its lines."""
    return (
        silver.group_by("basket_id", maintain_order=True)
        .agg(
            *[pl.col(name).first() for name in BASKET_LEVEL],
            pl.len().alias("n_lines"),
            pl.col("quantity").sum().alias("total_quantity"),
            pl.col("spend").sum().round(2).alias("total_spend"),
            pl.struct(LINE_FIELDS).sort_by("prod_code").alias("lines"),
            pl.sum_horizontal(pl.col(name).n_unique() > 1 for name in BASKET_LEVEL).alias("inconsistent_columns"),
        )
        .sort("shop_week", "basket_id")
    )


def inconsistent_baskets(lines: pl.LazyFrame) -> pl.DataFrame:
    """Baskets whose lines disagree on a basket-level column (region, type, week, label, ...).

    Such a basket cannot be placed in one partition or given one label, so it goes to quarantine
    whole rather than be split. Returns basket_id and a reason naming the columns and values
    that disagree. A hash of each line's basket-level values keeps the scan cheap; only the
    (usually zero) suspects are then examined column by column.
    """
    suspects = (
        lines.select("basket_id", pl.struct(BASKET_LEVEL).hash().alias("attributes"))
        .group_by("basket_id")
        .agg(pl.col("attributes").n_unique())
        .filter(pl.col("attributes") > 1)
        .select("basket_id")
        .collect(engine="streaming")  # one small state per basket, never the lines themselves
    )
    if suspects.is_empty():
        return pl.DataFrame(schema={"basket_id": pl.String(), "reason": pl.String()})
    values = lines.join(suspects.lazy(), on="basket_id").group_by("basket_id").agg(
        pl.col(name).unique().sort().cast(pl.String()).alias(name) for name in BASKET_LEVEL
    ).collect()
    parts = [
        pl.when(pl.col(name).list.len() > 1).then(pl.format(f"{name.upper()} ({{}})", pl.col(name).list.join(", ")))
        for name in BASKET_LEVEL
    ]
    return values.select(
        "basket_id",
        pl.format("lines of basket {} disagree on {}", "basket_id", pl.concat_str(parts, separator="; ", ignore_nulls=True)).alias("reason"),
    ).sort("basket_id")
