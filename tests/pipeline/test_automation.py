"""Declarative automation: a gold rebuild flows on to features, a new model, its registry entry and release."""

import dagster as dg
import pytest

from retail_assets.definitions import defs
from retail_assets.defs.asset_keys import FEATURES, GOLD, MODEL, REGISTERED, RELEASE


@pytest.fixture
def definitions(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "lake"))
    return defs()


def requested(result) -> set[dg.AssetKey]:
    return {key for key in (FEATURES, MODEL, REGISTERED, RELEASE) if result.get_num_requested(key)}


def test_a_gold_rebuild_flows_through_to_a_release(definitions):
    """Each automation sensor evaluates its own assets with its own cursor, as the daemon does."""
    sensors = {name: definitions.resolve_sensor_def(name).asset_selection for name in ("features_follow_gold", "retraining_sensor")}
    cursors: dict = {}

    def tick(instance) -> set[dg.AssetKey]:
        wanted = set()
        for name, selection in sensors.items():
            result = dg.evaluate_automation_conditions(
                defs=definitions, instance=instance, asset_selection=selection, cursor=cursors.get(name)
            )
            cursors[name] = result.cursor
            wanted |= requested(result)
        return wanted

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("store_regions", ["E01"])
        assert tick(instance) == set()  # nothing upstream yet: nothing to do

        for basket_type in ("Small Shop", "Top Up", "Full Shop", "XX"):
            key = dg.MultiPartitionKey({"store_region": "E01", "basket_type": basket_type})
            instance.report_runless_asset_event(dg.AssetMaterialization(GOLD, partition=key))
        assert tick(instance) == {FEATURES}  # once, however many gold partitions changed
        assert tick(instance) == set()

        instance.report_runless_asset_event(dg.AssetMaterialization(FEATURES))
        assert tick(instance) == {MODEL, REGISTERED, RELEASE}  # one run trains, registers, releases
        assert tick(instance) == set()


def test_a_lake_run_that_rebuilt_the_features_leaves_nothing_for_features_follow_gold(definitions):
    """rebuild_lake (raw_updated_sensor's and the weekly schedule's job) carries the features in the
    same run as gold: afterwards the features are newer than gold, so no second features run."""
    assert set(definitions.resolve_job_def("rebuild_lake").asset_layer.selected_asset_keys) >= {GOLD, FEATURES}
    selection = definitions.resolve_sensor_def("features_follow_gold").asset_selection
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("store_regions", ["E01"])
        cursor = dg.evaluate_automation_conditions(defs=definitions, instance=instance, asset_selection=selection).cursor
        for basket_type in ("Small Shop", "Top Up", "Full Shop", "XX"):
            key = dg.MultiPartitionKey({"store_region": "E01", "basket_type": basket_type})
            instance.report_runless_asset_event(dg.AssetMaterialization(GOLD, partition=key))
        instance.report_runless_asset_event(dg.AssetMaterialization(FEATURES))  # later in the same run
        result = dg.evaluate_automation_conditions(defs=definitions, instance=instance, asset_selection=selection, cursor=cursor)
        assert requested(result) == set()


def test_the_sensors_that_evaluate_them_run_from_the_start(definitions):
    for name, targets in {"features_follow_gold": {FEATURES}, "retraining_sensor": {MODEL, REGISTERED, RELEASE}}.items():
        sensor = definitions.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert set(sensor.asset_selection.resolve(definitions.resolve_asset_graph())) == targets
