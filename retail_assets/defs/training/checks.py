import dagster as dg

from retail_assets.defs.asset_keys import MODEL, REGISTERED
from retail_assets.defs.training.assets import read_metrics
from retail_assets.defs.training.provenance import upstream_version
from retail_model.artifact import GATE_FILE_NAME, model_key
from retail_model.lake import Lake
from retail_model.registry import REJECTED, ModelRegistry


@dg.asset_check(asset=REGISTERED, blocking=True)
def model_passed_promotion_gate(
    context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[Lake], model_registry: dg.ResourceParam[ModelRegistry]
) -> dg.AssetCheckResult:
    """The promotion gate: the model this run registered is not Rejected, or nothing later in the run releases it."""
    version = upstream_version(context, REGISTERED).version
    entry = model_registry.get(version)
    gate = lake.read_json(model_key(version, GATE_FILE_NAME)) or {}
    return dg.AssetCheckResult(
        passed=entry.status != REJECTED,
        metadata={"model_version": version, "status": entry.status, "gate": gate.get("summary", entry.description)},
    )


@dg.asset_check(asset=MODEL)
def model_tested_on_later_weeks(context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """Every test week comes after every training week, so the score is an honest forecast (the gate rejects it otherwise)."""
    version = upstream_version(context, MODEL).version
    split = read_metrics(lake, version)["split"]
    train_weeks, test_weeks = split["train_weeks"], split["test_weeks"]
    passed = bool(train_weeks) and bool(test_weeks) and max(train_weeks) < min(test_weeks)
    return dg.AssetCheckResult(
        passed=passed,
        metadata={"model_version": version, "last_train_week": max(train_weeks, default=0), "first_test_week": min(test_weeks, default=0)},
    )
