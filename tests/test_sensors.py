"""The landing sensor asks once per file content; the lake sensor rebuilds once after new raw data."""

import json
import shutil

import dagster as dg

from retail_assets.defs.ingest.sensors import landing_sensor
from retail_assets.defs.lake.schedules import raw_updated_sensor, weekly_lake_rebuild
from retail_assets.ingest import file_fingerprint
from retail_assets.lake import LakePaths
from retail_assets.landing import SOURCE_FILE
from retail_assets.partitions import region_and_basket_type
from retail_assets.resources import LakeResource


def evaluate(sensor, instance, lake_root, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": LakeResource(root=str(lake_root))})
    return sensor(context), context


def land_one_week(tmp_path, sample_dir, source):
    """A lake whose first sample week has landed and whose raw partition records `source(file)`."""
    paths = LakePaths(tmp_path / "lake")
    paths.landing.mkdir(parents=True)
    landed = paths.landing / sorted(sample_dir.glob("transactions_*.csv"))[0].name
    shutil.copy(sample_dir / landed.name, landed)
    week = landed.stem.split("_")[1]
    paths.raw(week).mkdir(parents=True)
    (paths.raw(week) / SOURCE_FILE).write_text(json.dumps(source(landed)))
    return paths, landed, week


def test_landing_sensor_requests_each_new_file_once(tmp_path, sample_dir):
    paths = LakePaths(tmp_path / "lake")
    paths.landing.mkdir(parents=True)
    first, second = sorted(sample_dir.glob("transactions_*.csv"))[:2]
    shutil.copy(first, paths.landing)
    (paths.landing / "notes.txt").write_text("not a weekly file")

    with dg.instance_for_test() as instance:
        result, context = evaluate(landing_sensor, instance, paths.root)
        assert [r.partition_key for r in result.run_requests] == [first.stem.split("_")[1]]
        assert result.dynamic_partitions_requests[0].partition_keys == [first.stem.split("_")[1]]
        cursor = result.cursor

        again, _ = evaluate(landing_sensor, instance, paths.root, cursor)
        assert isinstance(again, dg.SkipReason)  # a restart with the same cursor re-requests nothing

        shutil.copy(second, paths.landing)
        more, _ = evaluate(landing_sensor, instance, paths.root, cursor)
        assert [r.partition_key for r in more.run_requests] == [second.stem.split("_")[1]]


def test_landing_sensor_skips_weeks_already_ingested_and_retries_changed_files(tmp_path, sample_dir):
    paths, landed, week = land_one_week(tmp_path, sample_dir, lambda path: {"sha256": file_fingerprint(path)})

    with dg.instance_for_test() as instance:
        result, _ = evaluate(landing_sensor, instance, paths.root)
        assert isinstance(result, dg.SkipReason)

        landed.write_text(landed.read_text() + landed.read_text().splitlines()[1] + "\n")  # a corrected re-delivery
        result, _ = evaluate(landing_sensor, instance, paths.root)
        assert [r.partition_key for r in result.run_requests] == [week]


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


def test_unchanged_landed_files_are_not_hashed_again(tmp_path, sample_dir, monkeypatch):
    """The sensor runs every 30 s: a file whose size and mtime match the raw record costs a stat, not a hash."""
    import retail_assets.landing as landing

    paths, _, _ = land_one_week(tmp_path, sample_dir, landing.source_record)

    def no_hashing(path):
        raise AssertionError(f"{path} was hashed although it did not change")

    monkeypatch.setattr(landing, "file_fingerprint", no_hashing)
    assert landing.pending_files(paths) == []
