import dagster as dg

from retail_assets.defs.asset_keys import BASKET_PREDICTIONS, GOLD, RELEASE
from retail_assets.defs.metadata import delta_metadata
from retail_assets.defs.partitions import shop_weeks
from retail_assets.scoring.batch import BASKET_PREDICTIONS_TABLE, BatchScoringError, check_weeks, gold_week, score_baskets, write_weeks
from retail_model.lake import Lake
from retail_model.registry import ModelRegistry

ONE_PER_BASKET = "one_prediction_per_gold_basket"
RELEASED_VERSION = "scored_by_the_released_model"


@dg.asset(
    key=BASKET_PREDICTIONS,
    partitions_def=shop_weeks,
    deps=[dg.AssetDep(GOLD, partition_mapping=dg.AllPartitionMapping()), RELEASE],
    kinds={"polars", "deltalake"},
    group_name="scoring",
    backfill_policy=dg.BackfillPolicy.single_run(),  # a release re-scores many weeks in one run
    check_specs=[
        dg.AssetCheckSpec(ONE_PER_BASKET, asset=BASKET_PREDICTIONS, description="Each scored week holds exactly one prediction for every gold basket of the week."),
        dg.AssetCheckSpec(RELEASED_VERSION, asset=BASKET_PREDICTIONS, description="Every prediction of the scored weeks comes from the model version the registry serves."),
    ],
)
def basket_predictions(
    context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake], model_registry: dg.ResourceParam[ModelRegistry]
) -> dg.MaterializeResult:
    """Every gold basket of the week scored by the serving model through the API's compiled scorer, with its top-3 contributions per class and its label."""
    serving = model_registry.serving_entry()
    if serving is None:
        raise dg.Failure("no model serves yet: release one (api_release), then score the weeks")
    model = model_registry.load_model(serving)
    weeks = [int(key) for key in context.partition_keys]
    try:
        frames = {week: score_baskets(gold_week(lake, week), model) for week in weeks}
    except BatchScoringError as error:
        raise dg.Failure(str(error)) from error
    version = write_weeks(lake, frames)
    scored = sum(frame.height for frame in frames.values())
    context.log.info(f"{scored} baskets of {len(weeks)} week(s) scored by {serving.version} (table version {version})")
    checks = check_weeks(lake, weeks)
    wrong = [c for c in checks if not c.one_per_basket]
    foreign = [c for c in checks if c.versions and c.versions != [serving.version]]
    return dg.MaterializeResult(
        metadata={
            "model_version": serving.version,
            "weeks": ", ".join(map(str, weeks)),
            "dagster/row_count": dg.MetadataValue.int(scored),
            **delta_metadata(lake.table_uri(BASKET_PREDICTIONS_TABLE), version),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=ONE_PER_BASKET,
                passed=not wrong,
                description="; ".join(f"week {c.week}: {c.predictions} predictions ({c.unique_predicted} baskets) for {c.gold_baskets} gold baskets, {c.missing} missing" for c in wrong[:5]) or None,
                metadata={"weeks_checked": len(checks), "weeks_wrong": len(wrong), "gold_baskets": sum(c.gold_baskets for c in checks)},
            ),
            dg.AssetCheckResult(
                check_name=RELEASED_VERSION,
                passed=not foreign,
                description="; ".join(f"week {c.week}: scored by {', '.join(c.versions)}, not {serving.version}" for c in foreign[:5]) or None,
                metadata={"released_version": serving.version},
            ),
        ],
    )
