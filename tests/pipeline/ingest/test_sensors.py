"""The sensors decide from the lake and the instance: each file version is ingested exactly once
when its run succeeds, on a disk and on S3; failed runs are retried; the lake is rebuilt whenever
raw has a version no full rebuild has read."""

import shutil
import uuid

import dagster as dg
import pytest

from retail_assets.defs.ingest.sensors import landing_sensor
from retail_assets.defs.lake.automation import raw_updated_sensor, weekly_lake_rebuild
from retail_assets.defs.partitions import region_and_basket_type
from retail_assets.defs.runs import MAX_ATTEMPTS
from retail_assets.ingest import landing, watch
from retail_assets.ingest.load import load_weeks
from retail_model.lake import Lake, LocalLake, S3Lake


@pytest.fixture(params=["directory", "s3"])
def lake(request, tmp_path) -> Lake:
    if request.param == "directory":
        return LocalLake(tmp_path / "lake")
    aws = request.getfixturevalue("aws")
    return S3Lake(f"s3://{aws.bucket}/lake", aws.settings())


def tick(instance, lake, cursor=None) -> dg.SensorResult:
    return landing_sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake}))


def settle(instance, lake, cursor=None) -> dg.SensorResult:
    """Two looks in a row: a file is only ingested once it has stopped changing."""
    first = tick(instance, lake, cursor)
    assert not first.run_requests or cursor is not None
    return tick(instance, lake, first.cursor)


def skip(result: dg.SensorResult) -> str:
    return result.skip_reason.skip_message if result.skip_reason else ""


def land(lake: Lake, path, name: str | None = None) -> None:
    lake.upload_file(path, f"landing/{name or path.name}")


def week_of(path) -> str:
    return path.stem.split("_")[1]


def weeks_requested(result: dg.SensorResult) -> list[str]:
    weeks = []
    for request in result.run_requests:
        if request.partition_key:
            weeks.append(request.partition_key)
        else:
            weeks.append(f"{request.tags['dagster/asset_partition_range_start']}..{request.tags['dagster/asset_partition_range_end']}")
    return weeks


def ingest(lake: Lake, *weeks: str) -> None:
    """What a successful raw_transactions run does for these weeks."""
    files = [f for f in landing.landed_files(lake) if f.week in weeks]
    load_weeks(lake, files, run_id=f"run-{uuid.uuid4().hex[:8]}")


def test_new_files_wait_until_stable_then_are_requested_once(lake, sample_dir, tmp_path):
    first, second = sorted(sample_dir.glob("transactions_*.csv"))[:2]
    land(lake, first)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a weekly file")
    land(lake, notes)
    lake.write_bytes(f"landing/rejected/{first.name}", b"an earlier rejected copy is not a landed file")

    with dg.instance_for_test() as instance:
        seen = tick(instance, lake)
        assert weeks_requested(seen) == [] and "still changing" in skip(seen)
        result = tick(instance, lake, seen.cursor)
        assert weeks_requested(result) == [week_of(first)]
        assert result.dynamic_partitions_requests[0].partition_keys == [week_of(first)]

        again = tick(instance, lake, result.cursor)  # the run has not started yet: its run key dedupes
        assert [r.run_key for r in again.run_requests] == [r.run_key for r in result.run_requests]

        ingest(lake, week_of(first))
        assert tick(instance, lake, result.cursor).run_requests == []
        assert tick(instance, lake, None).run_requests == []  # a restarted daemon (no cursor) re-requests nothing

        land(lake, second)
        more = settle(instance, lake, result.cursor)
        assert weeks_requested(more) == [week_of(second)]


def test_a_file_still_being_copied_is_not_ingested(lake, sample_dir, tmp_path):
    source = sorted(sample_dir.glob("transactions_*.csv"))[0]
    data = source.read_bytes()
    partial = tmp_path / source.name
    with dg.instance_for_test() as instance:
        cursor = None
        for end in (len(data) // 3, 2 * len(data) // 3):  # the copy is still growing at every look
            partial.write_bytes(data[:end])
            land(lake, partial)
            result = tick(instance, lake, cursor)
            assert result.run_requests == [] and "still changing" in skip(result)
            cursor = result.cursor
        partial.write_bytes(data)
        land(lake, partial)
        assert tick(instance, lake, cursor).run_requests == []  # complete, but not yet seen twice
        assert weeks_requested(settle(instance, lake, cursor)) == [week_of(source)]


def test_a_to_b_to_a_ingests_a_again(lake, sample_dir, tmp_path):
    source = sorted(sample_dir.glob("transactions_*.csv"))[0]
    version_b = tmp_path / "b" / source.name
    version_b.parent.mkdir()
    version_b.write_text(source.read_text() + source.read_text().splitlines()[1] + "\n")  # a corrected re-delivery
    week = week_of(source)
    with dg.instance_for_test() as instance:
        land(lake, source)
        ingest(lake, week)
        land(lake, version_b)
        result_b = settle(instance, lake)
        assert weeks_requested(result_b) == [week]
        ingest(lake, week)
        land(lake, source)  # back to A
        result_a = settle(instance, lake, result_b.cursor)
        assert weeks_requested(result_a) == [week]
        assert result_a.run_requests[0].run_key not in {r.run_key for r in result_b.run_requests}
        ingest(lake, week)
    assert landing.ingested_versions(lake)[week]["fingerprint"] == lake.fingerprint(lake.stat(f"landing/{source.name}"))
    assert lake.count_rows("raw") == len(source.read_text().splitlines()) - 1


def test_a_failed_run_is_retried_a_bounded_number_of_times(sample_dir, tmp_path):
    lake = LocalLake(tmp_path / "lake")
    source = sorted(sample_dir.glob("transactions_*.csv"))[0]
    land(lake, source)
    with dg.instance_for_test() as instance:
        result = settle(instance, lake)
        keys = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            [request] = result.run_requests
            assert request.run_key not in keys, "a retry needs a fresh run key, or Dagster would drop it"
            keys.append(request.run_key)
            instance.add_run(dg.DagsterRun(job_name="ingest_week", status=dg.DagsterRunStatus.FAILURE, tags=request.tags))
            result = tick(instance, lake, result.cursor)
        assert result.run_requests == []
        assert f"gave up after {MAX_ATTEMPTS} failed runs" in skip(result)
        ingest(lake, week_of(source))  # the user fixed the cause and materialized the week from the UI
        assert skip(tick(instance, lake, result.cursor)).startswith("no new files")


def test_a_run_in_progress_is_not_doubled(sample_dir, tmp_path):
    lake = LocalLake(tmp_path / "lake")
    land(lake, sorted(sample_dir.glob("transactions_*.csv"))[0])
    with dg.instance_for_test() as instance:
        requested = settle(instance, lake)
        [request] = requested.run_requests
        instance.add_run(dg.DagsterRun(job_name="ingest_week", status=dg.DagsterRunStatus.STARTED, tags=request.tags))
        result = tick(instance, lake, requested.cursor)
        assert result.run_requests == [] and "a run is ingesting it" in skip(result)


def test_a_first_load_is_one_run_for_all_weeks(sample_dir, tmp_path):
    lake = LocalLake(tmp_path / "lake")
    for path in sorted(sample_dir.glob("transactions_*.csv")):
        land(lake, path)
    weeks = [week_of(p) for p in sorted(sample_dir.glob("transactions_*.csv"))]
    with dg.instance_for_test() as instance:
        result = settle(instance, lake)
    assert weeks_requested(result) == [f"{weeks[0]}..{weeks[-1]}"]
    assert result.dynamic_partitions_requests[0].partition_keys == weeks


def test_unchanged_landed_files_are_not_fingerprinted_again(sample_dir, tmp_path, monkeypatch):
    """The sensor runs every 30 s: a file whose size and stamp match the ingest log costs a stat, not a hash."""
    lake = LocalLake(tmp_path / "lake")
    land(lake, sorted(sample_dir.glob("transactions_*.csv"))[0])
    ingest(lake, *[f.week for f in landing.landed_files(lake)])

    def no_hashing(stored):
        raise AssertionError(f"{stored.key} was fingerprinted although it did not change")

    monkeypatch.setattr(lake, "fingerprint", no_hashing)
    assert watch.pending_files(lake) == []
    with dg.instance_for_test() as instance:
        assert tick(instance, lake).run_requests == []


def test_lake_rebuild_covers_every_partition_in_one_run(pipeline_run):
    instance = pipeline_run.instance
    request = weekly_lake_rebuild(dg.build_schedule_context(instance=instance))
    span = dg.PartitionKeyRange(request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"])
    covered = region_and_basket_type.get_partition_keys_in_range(span, dynamic_partitions_store=instance)
    every = region_and_basket_type.get_partition_keys(dynamic_partitions_store=instance)
    assert len(every) == 4 * len(instance.get_dynamic_partitions("store_regions")) > 4
    assert set(covered) == set(every)
    assert weekly_lake_rebuild.default_status == dg.DefaultScheduleStatus.RUNNING  # the safety net is on


def test_raw_updated_sensor_compares_table_versions(pipeline_run):
    """After the pipeline every full rebuild has read the latest raw: nothing to do."""
    context = dg.build_sensor_context(instance=pipeline_run.instance, resources={"lake": pipeline_run.store})
    result = raw_updated_sensor(context)
    assert isinstance(result, dg.SkipReason) and "up to date" in result.skip_message


def test_copy_of_the_sample_lands_under_its_week(tmp_path, sample_dir):
    lake = LocalLake(tmp_path / "lake")
    source = tmp_path / "drop"
    shutil.copytree(sample_dir, source)
    keys = landing.land_directory(source, lake)
    assert keys == [f"landing/{p.name}" for p in sorted(sample_dir.glob("transactions_*.csv"))]
    stamps = [lake.stat(k).stamp for k in keys]
    assert landing.land_directory(source, lake) == keys
    assert [lake.stat(k).stamp for k in keys] == stamps  # unchanged files are not copied again
