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
