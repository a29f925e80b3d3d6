import dagster as dg

from retail_assets.defs.asset_keys import GOLD, SILVER
from retail_assets.lake import invariants
from retail_model.lake import Lake

# Each check covers the weeks its asset's latest write replaced (`weeks_checked` in its metadata):
# the other weeks passed when they were written and have not changed since.


def _result(finding: invariants.Finding) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=finding.passed, metadata=finding.metadata)


@dg.asset_check(asset=SILVER)
def silver_rows_match_raw(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """Every kept raw row is in silver or in the basket quarantine exactly once: no line lost or duplicated."""
    return _result(invariants.silver_keeps_every_raw_row(lake))


@dg.asset_check(asset=GOLD, blocking=True)
def gold_basket_ids_unique(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """One gold row per BASKET_ID across the whole table: a split basket would train on partial lines."""
    return _result(invariants.gold_has_one_row_per_basket(lake))


@dg.asset_check(asset=GOLD)
def gold_lines_match_silver(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """The lines folded into gold baskets add up to the silver rows."""
    return _result(invariants.gold_lines_add_up_to_silver(lake))


@dg.asset_check(asset=GOLD)
def gold_basket_attributes_consistent(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """Basket-level columns (store, customer, label, type) agree across every line of a basket."""
    return _result(invariants.gold_attributes_agree(lake))
