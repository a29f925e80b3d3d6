import dagster as dg

from retail_assets.defs.training.assets import REGISTERED, latest_metadata, registered_model
from retail_assets.resources import ModelRegistryResource
from retail_features.registry import APPROVED


@dg.asset(deps=[registered_model], kinds={"fastapi"}, group_name="release")
def api_release(context: dg.AssetExecutionContext, model_registry: ModelRegistryResource) -> dg.MaterializeResult:
    """The model version the inference API serves (local: the API hot-swaps to it within seconds)."""
    version = latest_metadata(context.instance, REGISTERED, "model_version")
    registry = model_registry.registry
    entry = registry.get(version)
    if entry.status != APPROVED:
        previous = registry.released()
        raise dg.Failure(
            f"model {version} is {entry.status}, not Approved: approve it in the registry first. "
            f"The API keeps serving {previous['version'] if previous else 'no model'}."
        )
    record = registry.release(version)
    context.log.info(f"released {version}")
    return dg.MaterializeResult(metadata={"model_version": version, "released_at": record["released_at"], "macro_f1": entry.metrics.get("macro_f1")})
