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


# name -> (description, blocking, the plain check)
_GOLD_CHECKS = {
    "gold_basket_ids_unique": (
        "One gold row per BASKET_ID across the whole table: a split basket would train on partial lines.",
        True, invariants.gold_has_one_row_per_basket,
    ),
    "gold_lines_match_silver": ("The lines folded into gold baskets add up to the silver rows.", False, invariants.gold_lines_add_up_to_silver),
    "gold_basket_attributes_consistent": (
        "Basket-level columns (store, customer, label, type) agree across every line of a basket.", False, invariants.gold_attributes_agree,
    ),
}


# One step for gold's three checks (they share one read of the new weeks; a check step costs a
# run ~70 ms of Dagster's own work and three events); each can still be run alone from the UI.
@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name, asset=GOLD, description=text, blocking=blocking) for name, (text, blocking, _) in _GOLD_CHECKS.items()],
    can_subset=True,
)
def gold_checks(context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[Lake]):
    selected = {key.name for key in context.selected_asset_check_keys}
    for name, (_, _, check) in _GOLD_CHECKS.items():
        if name in selected:
            finding = check(lake)
            yield dg.AssetCheckResult(asset_key=GOLD, check_name=name, passed=finding.passed, metadata=finding.metadata)
