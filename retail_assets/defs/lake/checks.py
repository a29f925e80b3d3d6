import dagster as dg
import polars as pl

from retail_assets.defs.lake.assets import gold_baskets, silver_transactions
from retail_assets.lake import count_rows, scan_table
from retail_assets.resources import LakeResource


@dg.asset_check(asset=silver_transactions)
def silver_rows_match_raw(lake: LakeResource) -> dg.AssetCheckResult:
    """Every kept raw row is in silver exactly once: no line lost or duplicated between the hops."""
    raw, silver = count_rows(lake.paths.raw()), count_rows(lake.paths.silver())
    return dg.AssetCheckResult(passed=raw == silver, metadata={"raw_rows": raw, "silver_rows": silver})


@dg.asset_check(asset=gold_baskets)
def gold_basket_ids_unique(lake: LakeResource) -> dg.AssetCheckResult:
    """One gold row per BASKET_ID across all partitions."""
    gold = scan_table(lake.paths.gold())
    if gold is None:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "gold is empty"})
    rows, unique = gold.select(pl.len(), pl.col("basket_id").n_unique()).collect().row(0)
    return dg.AssetCheckResult(passed=rows == unique, metadata={"rows": rows, "distinct_basket_ids": unique})


@dg.asset_check(asset=gold_baskets)
def gold_lines_match_silver(lake: LakeResource) -> dg.AssetCheckResult:
    """The lines folded into gold baskets add up to the silver rows."""
    gold = scan_table(lake.paths.gold())
    lines = 0 if gold is None else gold.select(pl.col("n_lines").sum()).collect().item()
    silver = count_rows(lake.paths.silver())
    return dg.AssetCheckResult(passed=lines == silver, metadata={"gold_lines": lines, "silver_rows": silver})


@dg.asset_check(asset=gold_baskets)
def gold_basket_attributes_consistent(lake: LakeResource) -> dg.AssetCheckResult:
    """Basket-level columns (store, customer, label, type) agree across every line of a basket."""
    gold = scan_table(lake.paths.gold())
    bad = 0 if gold is None else gold.filter(pl.col("inconsistent_columns") > 0).select(pl.len()).collect().item()
    return dg.AssetCheckResult(passed=bad == 0, metadata={"inconsistent_baskets": bad})
