import json

import dagster as dg

from retail_assets.defs.ingest.assets import raw_transactions
from retail_assets.landing import pending_files
from retail_assets.partitions import shop_weeks
from retail_assets.resources import LakeResource

ingest_week = dg.define_asset_job("ingest_week", selection=[raw_transactions], description="Ingest landed weekly files.")


@dg.sensor(job=ingest_week, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult | dg.SkipReason:
    """Ingests each new or changed transactions_YYYYWW.csv in the landing zone, once per file content."""
    requested: dict[str, str] = json.loads(context.cursor or "{}")  # week -> sha256 already requested
    new = [f for f in pending_files(lake.paths) if requested.get(f.week) != f.sha256]
    if not new:
        return dg.SkipReason(f"no new files in {lake.paths.landing}")
    weeks = [f.week for f in new if not context.instance.has_dynamic_partition(shop_weeks.name, f.week)]
    requested.update({f.week: f.sha256 for f in new})
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=f.week, run_key=f"{f.week}:{f.sha256[:16]}") for f in new],
        dynamic_partitions_requests=[shop_weeks.build_add_request(weeks)] if weeks else [],
        cursor=json.dumps(requested, sort_keys=True),
    )
