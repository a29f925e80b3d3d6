import dagster as dg

from retail_assets.defs.asset_keys import LAKE_REBUILD
from retail_assets.defs.partitions import every_region_and_basket_type
from retail_assets.defs.runs import LAKE_JOB_EXECUTOR, MAX_ATTEMPTS, attempts
from retail_assets.lake.tables import lake_freshness
from retail_model.lake import Lake

rebuild_lake = dg.define_asset_job(
    "rebuild_lake",
    # The feature table shares the run: one run per landing, not two, and features_follow_gold
    # finds the features already newer than gold.
    selection=list(LAKE_REBUILD),
    description="Rebuild every silver and gold partition, then the feature table, in a single run.",
    executor_def=LAKE_JOB_EXECUTOR,
)


def _rebuild_request(instance: dg.DagsterInstance, run_key: str | None, tags: dict) -> dg.RunRequest | dg.SkipReason:
    partitions = every_region_and_basket_type(instance)
    if not partitions:
        return dg.SkipReason("no store regions yet: nothing has been ingested")
    return dg.RunRequest(run_key=run_key, tags=partitions | tags)


@dg.schedule(
    job=rebuild_lake, cron_schedule="0 6 * * 1", execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING
)
def weekly_lake_rebuild(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Every Monday 06:00 UTC, rebuild all silver/gold partitions and the features in one run: the safety net under the sensor."""
    return _rebuild_request(context.instance, run_key=None, tags={"retail/trigger": "weekly_lake_rebuild"})


@dg.sensor(job=rebuild_lake, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def raw_updated_sensor(context: dg.SensorEvaluationContext, lake: dg.ResourceParam[Lake]) -> dg.RunRequest | dg.SkipReason:
    """Rebuilds silver, gold and the features once whenever raw has a version no full rebuild has read yet."""
    freshness = lake_freshness(lake)
    if freshness.raw_version is None:
        return dg.SkipReason("raw_transactions has not been written yet")
    if not freshness.stale:
        return dg.SkipReason(f"silver and gold are up to date: {freshness.describe()}")
    # One piece of work per (raw, silver) version pair; its runs are found by this tag.
    work = {"retail/rebuild-for": f"raw-v{freshness.raw_version}.silver-v{freshness.silver_version}"}
    if context.instance.get_run_records(
        dg.RunsFilter(job_name=rebuild_lake.name, statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED])
    ):
        return dg.SkipReason(f"a rebuild is running; will look again afterwards ({freshness.describe()})")
    history = attempts(context.instance, work)
    if history.exhausted:
        return dg.SkipReason(
            f"gave up after {history.failures} failed rebuilds (MAX_ATTEMPTS={MAX_ATTEMPTS}); see those runs; "
            f"the weekly_lake_rebuild schedule will try again ({freshness.describe()})"
        )
    run_key = f"{work['retail/rebuild-for']}.attempt-{history.failures + 1}"
    return _rebuild_request(context.instance, run_key=run_key, tags=work | {"retail/trigger": "raw_updated_sensor"})
