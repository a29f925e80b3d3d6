import dagster as dg

from retail_assets.defs.asset_keys import MODEL
from retail_assets.defs.metadata import latest_materialization_value
from retail_assets.defs.training.assets import read_metrics
from retail_assets.training.gate import PromotionGate
from retail_model.lake import Lake


@dg.asset_check(asset=MODEL, blocking=True)
def model_meets_quality_floor(
    context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[Lake], promotion_gate: dg.ResourceParam[PromotionGate]
) -> dg.AssetCheckResult:
    """The promotion gate: test macro-F1 must reach the floor, or the model is never registered."""
    version = latest_materialization_value(context.instance, MODEL, "model_version")
    metrics = read_metrics(lake, version)
    return dg.AssetCheckResult(
        passed=promotion_gate.passes(metrics),
        metadata={"model_version": version, "macro_f1": metrics["macro_f1"], "floor": promotion_gate.min_macro_f1},
    )


@dg.asset_check(asset=MODEL, blocking=True)
def model_tested_on_later_weeks(context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """Every test week comes after every training week, so the score is an honest forecast."""
    version = latest_materialization_value(context.instance, MODEL, "model_version")
    split = read_metrics(lake, version)["split"]
    train_weeks, test_weeks = split["train_weeks"], split["test_weeks"]
    passed = bool(train_weeks) and bool(test_weeks) and max(train_weeks) < min(test_weeks)
    return dg.AssetCheckResult(passed=passed, metadata={"last_train_week": max(train_weeks, default=0), "first_test_week": min(test_weeks, default=0)})
