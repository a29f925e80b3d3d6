import dagster as dg
import polars as pl

from retail_assets.defs.asset_keys import GOLD, SILVER
from retail_assets.lake import tables
from retail_model.lake import Lake


@dg.asset_check(asset=SILVER)
def silver_rows_match_raw(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """Every kept raw row is in silver or in the basket quarantine exactly once: no line lost or duplicated."""
    raw, silver = lake.count_rows(tables.RAW), lake.count_rows(tables.SILVER)
    set_aside = lake.count_rows(tables.BASKET_QUARANTINE)
    return dg.AssetCheckResult(
        passed=raw == silver + set_aside, metadata={"raw_rows": raw, "silver_rows": silver, "basket_quarantine_rows": set_aside}
    )


@dg.asset_check(asset=GOLD, blocking=True)
def gold_basket_ids_unique(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """One gold row per BASKET_ID across the whole table: a split basket would train on partial lines."""
    gold = lake.scan(tables.GOLD)
    if gold is None:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "gold is empty"})
    rows, unique = gold.select(pl.len(), pl.col("basket_id").n_unique()).collect().row(0)
    return dg.AssetCheckResult(passed=rows == unique, metadata={"rows": rows, "distinct_basket_ids": unique})


@dg.asset_check(asset=GOLD)
def gold_lines_match_silver(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """The lines folded into gold baskets add up to the silver rows."""
    gold = lake.scan(tables.GOLD)
    lines = 0 if gold is None else gold.select(pl.col("n_lines").sum()).collect().item()
    silver = lake.count_rows(tables.SILVER)
    return dg.AssetCheckResult(passed=lines == silver, metadata={"gold_lines": lines, "silver_rows": silver})


@dg.asset_check(asset=GOLD)
def gold_basket_attributes_consistent(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """Basket-level columns (store, customer, label, type) agree across every line of a basket."""
    gold = lake.scan(tables.GOLD)
    bad = 0 if gold is None else gold.filter(pl.col("inconsistent_columns") > 0).select(pl.len()).collect().item()
    return dg.AssetCheckResult(passed=bad == 0, metadata={"inconsistent_baskets": bad})
