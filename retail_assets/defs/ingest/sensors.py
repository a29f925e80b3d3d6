import hashlib

import dagster as dg

from retail_assets.defs.asset_keys import RAW
from retail_assets.defs.partitions import shop_weeks, week_range_tags
from retail_assets.defs.runs import LAKE_JOB_EXECUTOR, MAX_ATTEMPTS, attempts
from retail_assets.ingest.landing import misnamed_files, reject_misnamed
from retail_assets.ingest.watch import LandingWatch, ReadyFile, contiguous_blocks, look
from retail_model.lake import Lake

ingest_week = dg.define_asset_job("ingest_week", selection=[RAW], description="Ingest landed weekly files.", executor_def=LAKE_JOB_EXECUTOR)


def file_version_tag(ready: ReadyFile) -> dict[str, str]:
    """Marks every run that ingests this version of this week's file (in this era of the week)."""
    return {f"retail/week-{ready.week}": f"{ready.fingerprint[:16]}.{ready.generation}"}


@dg.sensor(job=ingest_week, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext, lake: dg.ResourceParam[Lake]) -> dg.SensorResult:
    """Ingests each new or changed transactions_YYYYWW.csv once it has stopped changing; retries failed runs."""
    ready, settling, watch = look(lake, LandingWatch.from_cursor(context.cursor))
    notes = [f"{len(settling)} file(s) still changing: {', '.join(f.stored.name for f in settling[:5])}"] if settling else []
    misnamed = misnamed_files(lake)
    for name in reject_misnamed(lake, misnamed):
        context.log.warning(next(f.reason for f in misnamed if f.stored.name == name) + f" (copied to {lake.uri_of('landing/rejected')})")
    if misnamed:
        notes.append(f"{len(misnamed)} misnamed file(s) not ingested: {', '.join(f.stored.name for f in misnamed[:5])}")
    wanted: dict[str, tuple[ReadyFile, int]] = {}
    for file in ready:
        history = attempts(context.instance, file_version_tag(file))
        if history.in_progress:
            notes.append(f"week {file.week}: a run is ingesting it")
        elif history.exhausted:
            notes.append(
                f"week {file.week}: gave up after {history.failures} failed runs (MAX_ATTEMPTS={MAX_ATTEMPTS}); "
                "see those runs, then re-land the file or materialize the week from the UI"
            )
        else:
            wanted[file.week] = (file, history.failures + 1)
    for note in notes:
        context.log.info(note)

    known = context.instance.get_dynamic_partitions(shop_weeks.name)
    new_weeks = sorted(week for week in wanted if week not in set(known))
    run_requests = [_request(block, wanted) for block in contiguous_blocks([*known, *new_weeks], set(wanted))]
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[shop_weeks.build_add_request(new_weeks)] if new_weeks else [],
        cursor=watch.to_cursor(),
        skip_reason=None if run_requests else ("; ".join(notes) or f"no new files in {lake.uri_of('landing')}"),
    )


def _request(block: list[str], wanted: dict[str, tuple[ReadyFile, int]]) -> dg.RunRequest:
    """One run for a block of neighbouring weeks (first load, catch-up), or for one week."""
    tags = {"retail/trigger": "landing_sensor"}
    identity = []
    for week in block:
        file, attempt = wanted[week]
        tags |= file_version_tag(file)
        identity.append(f"{week}:{file.fingerprint}:{file.generation}:{attempt}")
    run_key = "ingest-" + hashlib.sha256(",".join(identity).encode()).hexdigest()[:24]
    if len(block) == 1:
        return dg.RunRequest(partition_key=block[0], run_key=run_key, tags=tags)
    return dg.RunRequest(run_key=run_key, tags=tags | week_range_tags(block[0], block[-1]))
