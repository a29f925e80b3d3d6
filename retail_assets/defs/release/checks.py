import dagster as dg
import polars as pl

from retail_assets.defs.release.assets import api_release
from retail_assets.feature_table import basket_from_gold
from retail_assets.lake import scan_table
from retail_assets.resources import LakeResource, ModelRegistryResource
from retail_features.model_artifact import PriceSensitivityModel


@dg.asset_check(asset=api_release, blocking=True)
def released_model_answers(lake: LakeResource, model_registry: ModelRegistryResource) -> dg.AssetCheckResult:
    """Smoke test: the released model loads as the API loads it and predicts real gold baskets."""
    released = model_registry.registry.released()
    if released is None:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "no release.json in the registry"})
    model = PriceSensitivityModel.load(lake.paths.root / released["model_dir"], version=released["version"])
    gold = scan_table(lake.paths.gold())
    sample = gold.filter(pl.col("basket_price_sensitivity") != "XX").head(20).collect() if gold is not None else pl.DataFrame()
    predictions = model.predict([basket_from_gold(row) for row in sample.iter_rows(named=True)])
    sums_ok = all(abs(sum(p.probabilities.values()) - 1.0) < 1e-6 for p in predictions)
    return dg.AssetCheckResult(
        passed=bool(predictions) and sums_ok,
        metadata={"model_version": released["version"], "baskets_predicted": len(predictions)},
    )
