import dagster as dg

from retail_assets.defs.asset_keys import REGISTERED, RELEASE
from retail_assets.defs.metadata import latest_materialization_value
from retail_assets.release.smoke import answers_real_baskets, gold_sample
from retail_assets.release.target import ReleaseError, ReleaseTarget
from retail_model.lake import Lake
from retail_model.registry import ModelRegistry


@dg.asset(
    key=RELEASE,
    deps=[REGISTERED],
    kinds={"fastapi"},
    group_name="release",
    automation_condition=dg.AutomationCondition.eager(),
)
def api_release(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    model_registry: dg.ResourceParam[ModelRegistry],
    release_target: dg.ResourceParam[ReleaseTarget],
) -> dg.MaterializeResult:
    """The model version the inference API serves (local: the API hot-swaps to it within seconds)."""
    version = latest_materialization_value(context.instance, REGISTERED, "model_version")
    entry = model_registry.get(version)
    baskets = gold_sample(lake)
    try:
        release = release_target.release(entry, lambda model: answers_real_baskets(model, baskets))
    except ReleaseError as error:
        raise dg.Failure(str(error)) from error
    context.log.info(f"released {version}")
    return dg.MaterializeResult(
        metadata={"model_version": version, "released_at": release.released_at, "macro_f1": entry.metrics.get("macro_f1")}
    )
