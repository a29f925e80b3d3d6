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


def baskets_to_set_aside(raw: pl.LazyFrame, set_aside_before: pl.LazyFrame | None, weeks: set[int]) -> tuple[pl.DataFrame, set[int], pl.DataFrame]:
    """What rewriting `weeks` of silver needs to know about baskets whose lines disagree, read
    only through those weeks' basket ids: (the inconsistent baskets with their reasons, the weeks
    to rewrite, the set-aside lines of those weeks).

    A basket can disagree across weeks (two weekly files with one BASKET_ID), so the lines of
    every basket seen in `weeks` are looked up in all of raw; basket ids grow with time and the
    tables are sorted by week, so the id range skips almost every row group. The weeks grow by
    those of the baskets' other lines, and of baskets that were set aside before and may now
    agree (a re-delivery that fixed them).
    """

    def lines_of_baskets_in(wanted: set[int]) -> pl.DataFrame:
        ids = raw.filter(pl.col("shop_week").is_in(sorted(wanted))).select("basket_id")
        if set_aside_before is not None:
            ids = pl.concat([ids, set_aside_before.filter(pl.col("shop_week").is_in(sorted(wanted))).select("basket_id")])
        ids = ids.unique().collect()["basket_id"]
        if ids.is_empty():
            return normalised_lines(raw.head(0)).collect()
        near = pl.col("basket_id").is_between(pl.lit(ids.min()), pl.lit(ids.max()))
        return normalised_lines(raw.filter(near & pl.col("basket_id").is_in(ids.implode()))).collect()

    def weeks_of(lines: pl.DataFrame | pl.LazyFrame, baskets: pl.Series) -> set[int]:
        found = lines.lazy().filter(pl.col("basket_id").is_in(baskets.implode())).select(pl.col("shop_week").unique()).collect()
        return set(found["shop_week"].to_list())

    lines = lines_of_baskets_in(weeks)
    bad = inconsistent_baskets(lines.lazy())
    affected = set(weeks) | weeks_of(lines, bad["basket_id"])
    if set_aside_before is not None:
        affected |= weeks_of(set_aside_before, lines["basket_id"].unique())
    if affected != weeks:
        # The added weeks' other baskets must stay out of silver too if they disagree (with
        # lines in weeks not rewritten now, whose silver rows already leave them out).
        lines = lines_of_baskets_in(affected)
        bad = inconsistent_baskets(lines.lazy())
    set_aside = lines.join(bad, on="basket_id").filter(pl.col("shop_week").is_in(sorted(affected)))
    return bad, affected, set_aside
