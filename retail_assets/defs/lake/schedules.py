import dagster as dg

from retail_assets.defs.asset_keys import GOLD, RAW, SILVER
from retail_assets.defs.partitions import every_region_and_basket_type

rebuild_lake = dg.define_asset_job(
    "rebuild_lake",
    selection=[SILVER, GOLD],
    description="Rebuild every silver and gold partition in a single run.",
)


def _rebuild_request(instance: dg.DagsterInstance, run_key: str | None) -> dg.RunRequest | dg.SkipReason:
    tags = every_region_and_basket_type(instance)
    if not tags:
        return dg.SkipReason("no store regions yet: nothing has been ingested")
    return dg.RunRequest(run_key=run_key, tags=tags)


@dg.schedule(job=rebuild_lake, cron_schedule="0 6 * * 1", execution_timezone="UTC")
def weekly_lake_rebuild(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Every Monday 06:00 UTC, rebuild all silver/gold partitions in one run (a backfill of the whole lake)."""
    return _rebuild_request(context.instance, run_key=None)


@dg.sensor(job=rebuild_lake, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def raw_updated_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """After new raw weeks land, rebuilds silver and gold once (not once per week)."""
    raw = _latest_storage_id(context.instance, RAW)
    if raw is None:
        return dg.SkipReason("raw_transactions has not been materialized yet")
    gold = _latest_storage_id(context.instance, GOLD)
    if gold is not None and gold > raw:
        return dg.SkipReason("gold_baskets is newer than the latest raw data")
    # The run key makes a restarted daemon ask once per raw materialization, never twice.
    return _rebuild_request(context.instance, run_key=f"raw-{raw}")


def _latest_storage_id(instance: dg.DagsterInstance, key: dg.AssetKey) -> int | None:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0].storage_id if records else None
