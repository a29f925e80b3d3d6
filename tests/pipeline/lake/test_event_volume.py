"""A landing's runs write one planned event per asset, not one per store_region x basket_type
partition, and the instance (what the UI reads) still shows every partition materialized; the
feature table is rebuilt in the same run as silver and gold."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from rich.console import Console
from rich.progress import Progress

from retail_assets.defs.asset_keys import FEATURES, GOLD, RAW, SILVER
from retail_assets.defs.partitions import region_and_basket_type
from retail_assets.event_volume import FEWER_EVENTS
from retail_assets.pipeline import run_pipeline
from retail_assets.sample_data import generate_sample_data

PLANNED = dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value
MATERIALIZED = dg.DagsterEventType.ASSET_MATERIALIZATION.value


@pytest.fixture(scope="module")
def weeks_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("weeks")
    generate_sample_data(out, weeks=2, baskets_per_week=300, seed=5)
    return out


@pytest.fixture
def data_half(tmp_path, monkeypatch, weeks_dir):
    """`retail-mlops materialize`'s data half on a fresh lake and the given instance; returns the
    lake run's events and the partitions the instance knows."""
    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "lake"))
    monkeypatch.delenv("RETAIL_MODE", raising=False)
    for name in FEWER_EVENTS:  # whatever the shell running the tests set: the pipeline's own defaults
        monkeypatch.setenv(name, "")  # recorded first, so what run_pipeline sets is undone after the test
        monkeypatch.delenv(name)

    def run(instance: dg.DagsterInstance):
        run_pipeline(weeks_dir, instance, Progress(console=Console(quiet=True)), through_model=False)
        runs = instance.get_runs()
        lake_run = next(run for run in runs if GOLD in (run.asset_selection or ()))
        events = [e for e in instance.all_logs(lake_run.run_id) if e.dagster_event]
        every = region_and_basket_type.get_partition_keys(dynamic_partitions_store=instance)
        return runs, lake_run, events, every

    return run


def _by_asset(events, event_type: str) -> Counter:
    return Counter(e.dagster_event.asset_key for e in events if e.dagster_event.event_type_value == event_type)


def test_one_planned_event_per_asset_and_every_partition_still_materialized(data_half):
    with dg.instance_for_test() as instance:
        runs, lake_run, events, every = data_half(instance)
        assert len(every) > 4, "the sample spans several regions: more partitions than basket types"
        assert len(runs) == 2, "one raw run, then one run from silver to the features"
        assert set(lake_run.asset_selection) == {SILVER, GOLD, FEATURES}
        assert _by_asset(events, PLANNED) == {SILVER: 1, GOLD: 1, FEATURES: 1}
        # What the UI shows per partition comes from the materializations, still one per partition.
        assert _by_asset(events, MATERIALIZED) == {SILVER: len(every), GOLD: len(every), FEATURES: 1}
        for key in (SILVER, GOLD):
            assert instance.get_materialized_partitions(key) == set(every)
        assert instance.get_materialized_partitions(RAW) == set(instance.get_dynamic_partitions("shop_weeks"))


def test_without_the_switch_dagster_plans_every_partition(data_half, monkeypatch):
    """What a run cost before: a planned event per partition (a value the user set wins)."""
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "false")
    with dg.instance_for_test() as instance:
        _, _, events, every = data_half(instance)
        assert _by_asset(events, PLANNED) == {SILVER: len(every), GOLD: len(every), FEATURES: 1}


def test_on_postgresql_a_steps_materializations_are_one_write(data_half, postgres_server, monkeypatch):
    """The Helm deployment's storage: batched materializations still mark every partition, and the
    asset's latest materialization is the run's."""
    database = postgres_server.create_database("dagster")
    storage = {"postgres_db": {"username": "dagster", "password": "", "hostname": postgres_server.host,
                               "port": postgres_server.port, "db_name": database, "scheme": "postgresql+psycopg2"}}
    with dg.instance_for_test(overrides={"storage": {"postgres": storage}}) as instance:
        writes = []
        store_batch = instance.event_log_storage.store_event_batch
        monkeypatch.setattr(instance.event_log_storage, "store_event_batch", lambda batch: (writes.append(len(batch)), store_batch(batch))[1])
        _, lake_run, _, every = data_half(instance)
        assert len(every) in writes, "a step's per-partition materializations go in one write"
        for key in (SILVER, GOLD):
            assert instance.get_materialized_partitions(key) == set(every)
        assert instance.get_latest_materialization_event(GOLD).run_id == lake_run.run_id


def _event_types(instance: dg.DagsterInstance) -> list[Counter]:
    return [Counter(e.dagster_event.event_type_value for e in instance.all_logs(run.run_id) if e.dagster_event)
            for run in reversed(instance.get_runs())]  # oldest first


def test_the_batching_sqlite_event_log_stores_what_dagsters_does(data_half, tmp_path, monkeypatch):
    """`BatchingSqliteEventLogStorage` (what the CLI and `make ui` configure) writes a step's
    per-partition materializations in one go, and the instance reads back what Dagster's own SQLite
    storage gives: the same events in each run, every partition materialized, the latest
    materialization, the check results."""
    from dagster._core.storage.event_log import SqliteEventLogStorage

    from retail_assets.event_store import BatchingSqliteEventLogStorage

    with dg.instance_for_test() as stock:
        data_half(stock)
        expected = _event_types(stock)
    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "second_lake"))  # the same weeks, landing again
    one_by_one = []
    store_event = SqliteEventLogStorage.store_event
    monkeypatch.setattr(SqliteEventLogStorage, "store_event", lambda self, event: (one_by_one.append(event), store_event(self, event))[1])
    storage = {"module": "retail_assets.event_store", "class": "BatchingSqliteEventLogStorage",
               "config": {"base_dir": str(tmp_path / "home" / "history" / "runs")}}
    with dg.instance_for_test(overrides={"event_log_storage": storage}) as instance:
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
        runs, lake_run, events, every = data_half(instance)
        assert _event_types(instance) == expected, "the same events in every run"
        stored_alone = Counter(e.dagster_event.asset_key for e in one_by_one if e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert not stored_alone[SILVER] and not stored_alone[GOLD], "per-partition materializations are written as a batch"
        for key in (SILVER, GOLD):
            assert instance.get_materialized_partitions(key) == set(every)
            assert instance.get_latest_materialization_event(key).run_id == lake_run.run_id
        latest = instance.get_latest_materialization_event(GOLD).asset_materialization
        assert latest.partition in every and latest.metadata["partitions_written"].value == len(every)
        checks = [e for e in events if e.dagster_event.event_type_value == dg.DagsterEventType.ASSET_CHECK_EVALUATION.value]
        assert checks, "the lake run evaluates its checks"
        for evaluation in checks:
            key = evaluation.dagster_event.asset_check_evaluation_data.asset_check_key
            [record] = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
            assert record.run_id == lake_run.run_id and record.status.value == "SUCCEEDED"


def test_the_cli_writes_the_batching_event_log_into_a_new_dagster_home(tmp_path, monkeypatch):
    from retail_assets.cli import _instance
    from retail_assets.event_store import BatchingSqliteEventLogStorage

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    instance = _instance()
    try:
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
        assert Path(instance.event_log_storage._base_dir) == (tmp_path / "home" / "history" / "runs").resolve()
    finally:
        instance.dispose()
