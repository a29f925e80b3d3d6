"""The landing sensor asks once per file version, on a disk and on S3; the lake sensor rebuilds once after new raw data."""

import shutil

import dagster as dg
import pytest

from retail_assets.defs.ingest.sensors import landing_sensor
from retail_assets.defs.lake.schedules import raw_updated_sensor, weekly_lake_rebuild
from retail_assets.defs.partitions import region_and_basket_type
from retail_assets.ingest import landing
from retail_assets.ingest.load import load_week
from retail_model.lake import Lake, LocalLake, S3Lake


@pytest.fixture(params=["directory", "s3"])
def lake(request, tmp_path) -> Lake:
    if request.param == "directory":
        return LocalLake(tmp_path / "lake")
    aws = request.getfixturevalue("aws")
    return S3Lake(f"s3://{aws.bucket}/lake", aws.settings())


def evaluate(instance, lake, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake})
    return landing_sensor(context)


def land(lake: Lake, path, name: str | None = None) -> None:
    lake.upload_file(path, f"landing/{name or path.name}")


def week_of(path) -> str:
    return path.stem.split("_")[1]


def test_landing_sensor_requests_each_new_file_once(lake, sample_dir, tmp_path):
    first, second = sorted(sample_dir.glob("transactions_*.csv"))[:2]
    land(lake, first)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a weekly file")
    land(lake, notes)
    lake.write_bytes(f"landing/rejected/{first.name}", b"an earlier rejected copy is not a landed file")

    with dg.instance_for_test() as instance:
        result = evaluate(instance, lake)
        assert [r.partition_key for r in result.run_requests] == [week_of(first)]
        assert result.dynamic_partitions_requests[0].partition_keys == [week_of(first)]
        cursor = result.cursor

        again = evaluate(instance, lake, cursor)
        assert isinstance(again, dg.SkipReason)  # a restart with the same cursor re-requests nothing

        land(lake, second)
        more = evaluate(instance, lake, cursor)
        assert [r.partition_key for r in more.run_requests] == [week_of(second)]
        land(lake, second)  # the same bytes delivered twice: one request only
        assert isinstance(evaluate(instance, lake, more.cursor), dg.SkipReason)


def test_ingested_weeks_are_skipped_and_changed_files_requested_again(lake, sample_dir, tmp_path):
    path = sorted(sample_dir.glob("transactions_*.csv"))[0]
    land(lake, path)
    [landed] = landing.landed_files(lake)
    load_week(lake, landed, lake.fingerprint(landed.stored), run_id="test")

    with dg.instance_for_test() as instance:
        assert isinstance(evaluate(instance, lake), dg.SkipReason)
        corrected = tmp_path / path.name
        corrected.write_text(path.read_text() + path.read_text().splitlines()[1] + "\n")  # a corrected re-delivery
        land(lake, corrected)
        result = evaluate(instance, lake)
        assert [r.partition_key for r in result.run_requests] == [week_of(path)]
        assert result.run_requests[0].run_key == f"{week_of(path)}:{lake.fingerprint(lake.stat(landed.key))[:16]}"


def test_unchanged_landed_files_are_not_fingerprinted_again(sample_dir, tmp_path, monkeypatch):
    """The sensor runs every 30 s: a file whose size and stamp match the ingest log costs a stat, not a hash."""
    lake = LocalLake(tmp_path / "lake")
    land(lake, sorted(sample_dir.glob("transactions_*.csv"))[0])
    [landed] = landing.landed_files(lake)
    load_week(lake, landed, lake.fingerprint(landed.stored), run_id="test")

    def no_hashing(stored):
        raise AssertionError(f"{stored.key} was fingerprinted although it did not change")

    monkeypatch.setattr(lake, "fingerprint", no_hashing)
    assert landing.pending_files(lake) == []


def test_lake_rebuild_covers_every_partition_in_one_run(pipeline_run):
    instance = pipeline_run.instance
    request = weekly_lake_rebuild(dg.build_schedule_context(instance=instance))
    span = dg.PartitionKeyRange(request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"])
    covered = region_and_basket_type.get_partition_keys_in_range(span, dynamic_partitions_store=instance)
    every = region_and_basket_type.get_partition_keys(dynamic_partitions_store=instance)
    assert len(every) == 4 * len(instance.get_dynamic_partitions("store_regions")) > 4
    assert set(covered) == set(every)


def test_raw_updated_sensor_waits_for_new_raw_data(pipeline_run):
    """After the pipeline, gold is newer than raw: nothing to do. Fresh raw data triggers one rebuild."""
    result = raw_updated_sensor(dg.build_sensor_context(instance=pipeline_run.instance))
    assert isinstance(result, dg.SkipReason)

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("store_regions", ["E01"])
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_transactions", partition="200607"))
        request = raw_updated_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(request, dg.RunRequest) and request.run_key.startswith("raw-")
        assert "dagster/asset_partition_range_start" in request.tags


def test_a_copy_of_the_sample_lands_under_its_week(tmp_path, sample_dir):
    lake = LocalLake(tmp_path / "lake")
    source = tmp_path / "drop"
    shutil.copytree(sample_dir, source)
    keys = landing.land_directory(source, lake)
    assert keys == [f"landing/{p.name}" for p in sorted(sample_dir.glob("transactions_*.csv"))]
    stamps = [lake.stat(k).stamp for k in keys]
    assert landing.land_directory(source, lake) == keys
    assert [lake.stat(k).stamp for k in keys] == stamps  # unchanged files are not copied again
