import json

import dagster as dg

from retail_assets.defs.asset_keys import RAW
from retail_assets.defs.partitions import shop_weeks
from retail_assets.ingest.landing import pending_files
from retail_model.lake import Lake

ingest_week = dg.define_asset_job("ingest_week", selection=[RAW], description="Ingest landed weekly files.")


@dg.sensor(job=ingest_week, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext, lake: dg.ResourceParam[Lake]) -> dg.SensorResult | dg.SkipReason:
    """Ingests each new or changed transactions_YYYYWW.csv in the landing zone, once per file version."""
    requested: dict[str, str] = json.loads(context.cursor or "{}")  # week -> fingerprint already requested
    new = [f for f in pending_files(lake) if requested.get(f.week) != f.fingerprint]
    if not new:
        return dg.SkipReason(f"no new files in {lake.uri_of('landing')}")
    weeks = [f.week for f in new if not context.instance.has_dynamic_partition(shop_weeks.name, f.week)]
    requested.update({f.week: f.fingerprint for f in new})
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=f.week, run_key=f"{f.week}:{f.fingerprint[:16]}") for f in new],
        dynamic_partitions_requests=[shop_weeks.build_add_request(weeks)] if weeks else [],
        cursor=json.dumps(requested, sort_keys=True),
    )
