import dagster as dg

from retail_assets.defs.asset_keys import RELEASE
from retail_assets.release.smoke import SmokeTestError, answers_real_baskets, gold_sample
from retail_model.artifact import ModelLoadError
from retail_model.lake import Lake
from retail_model.registry import ModelRegistry


@dg.asset_check(asset=RELEASE)
def released_model_answers(lake: dg.ResourceParam[Lake], model_registry: dg.ResourceParam[ModelRegistry]) -> dg.AssetCheckResult:
    """After the release: the serving model loads as the API loads it and predicts real gold baskets (the release itself smoke-tested it before moving)."""
    released = model_registry.serving_entry()
    if released is None:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "nothing is released in the registry"})
    try:
        model = model_registry.load_model(released)
        answered = answers_real_baskets(model, gold_sample(lake))
    except (ModelLoadError, SmokeTestError) as error:
        return dg.AssetCheckResult(passed=False, metadata={"model_version": released.version, "reason": str(error)})
    return dg.AssetCheckResult(passed=True, metadata={"model_version": released.version, "baskets_predicted": answered})
