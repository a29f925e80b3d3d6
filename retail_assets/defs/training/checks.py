import dagster as dg

from retail_assets.defs.training.assets import MODEL, latest_metadata, price_sensitivity_model, read_metrics
from retail_assets.resources import LakeResource, PromotionGate


@dg.asset_check(asset=price_sensitivity_model, blocking=True)
def model_meets_quality_floor(
    context: dg.AssetCheckExecutionContext, lake: LakeResource, promotion_gate: PromotionGate
) -> dg.AssetCheckResult:
    """The promotion gate: test macro-F1 must reach the floor, or the model is never registered."""
    version = latest_metadata(context.instance, MODEL, "model_version")
    macro_f1 = read_metrics(lake, version)["macro_f1"]
    return dg.AssetCheckResult(
        passed=macro_f1 >= promotion_gate.min_macro_f1,
        metadata={"model_version": version, "macro_f1": macro_f1, "floor": promotion_gate.min_macro_f1},
    )


@dg.asset_check(asset=price_sensitivity_model, blocking=True)
def model_tested_on_later_weeks(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Every test week comes after every training week, so the score is an honest forecast."""
    version = latest_metadata(context.instance, MODEL, "model_version")
    split = read_metrics(lake, version)["split"]
    train_weeks, test_weeks = split["train_weeks"], split["test_weeks"]
    passed = bool(train_weeks) and bool(test_weeks) and max(train_weeks) < min(test_weeks)
    return dg.AssetCheckResult(passed=passed, metadata={"last_train_week": max(train_weeks, default=0), "first_test_week": min(test_weeks, default=0)})
