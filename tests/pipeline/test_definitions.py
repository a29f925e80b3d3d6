"""The code location as Dagster loads it: assets, lineage, partitions, checks, automation."""

import dagster as dg
import pytest

from retail_assets.definitions import defs
from retail_assets.settings import ConfigurationError, get_environment


@pytest.fixture(scope="module")
def definitions(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETAIL_LAKE", str(tmp_path_factory.mktemp("lake")))
        yield defs()


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(name)


def test_the_lineage_graph_has_every_hop(definitions):
    graph = definitions.resolve_asset_graph()
    expected_parents = {
        "raw_transactions": set(),
        "silver_transactions": {"raw_transactions"},
        "gold_baskets": {"silver_transactions"},
        "basket_features": {"gold_baskets"},
        "price_sensitivity_model": {"basket_features"},
        "registered_model": {"price_sensitivity_model"},
        "api_release": {"registered_model"},
        "prediction_log": {"api_release"},  # written by the API: an external asset
        "feature_drift": {"prediction_log", "basket_features", "api_release"},
        "live_accuracy": {"prediction_log", "gold_baskets", "api_release", "basket_predictions"},
        "basket_predictions": {"gold_baskets", "api_release"},
        "lake_maintenance": {"raw_transactions", "silver_transactions", "gold_baskets", "basket_features"},
    }
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == set(expected_parents)
    for name, parents in expected_parents.items():
        assert {p.to_user_string() for p in graph.get(key(name)).parent_keys} == parents


def test_partitions(definitions):
    graph = definitions.resolve_asset_graph()
    raw = graph.get(key("raw_transactions")).partitions_def
    assert isinstance(raw, dg.DynamicPartitionsDefinition) and raw.name == "shop_weeks"
    weekly = graph.get(key("basket_predictions")).partitions_def
    assert isinstance(weekly, dg.DynamicPartitionsDefinition) and weekly.name == "shop_weeks"
    for name in ("silver_transactions", "gold_baskets"):
        partitions = graph.get(key(name)).partitions_def
        assert isinstance(partitions, dg.MultiPartitionsDefinition)
        assert {d.name for d in partitions.partitions_defs} == {"store_region", "basket_type"}
    for name in ("basket_features", "price_sensitivity_model", "registered_model", "api_release"):
        assert graph.get(key(name)).partitions_def is None


def test_week_to_region_mapping_reads_every_week(definitions):
    """Without an explicit AllPartitionMapping Dagster would silently map week -> region by identity."""
    silver = definitions.resolve_assets_def(key("silver_transactions"))
    mapping = silver.get_partition_mapping(key("raw_transactions"))
    assert isinstance(mapping, dg.AllPartitionMapping)


def test_checks_guard_each_hop_and_block_at_the_gates(definitions):
    checks = {(c.asset_key.to_user_string(), c.name) for c in definitions.resolve_asset_graph().asset_check_keys}
    assert {
        ("raw_transactions", "raw_rows_reconcile_with_landed_files"),
        ("silver_transactions", "silver_rows_match_raw"),
        ("gold_baskets", "gold_basket_ids_unique"),
        ("gold_baskets", "gold_lines_match_silver"),
        ("gold_baskets", "gold_basket_attributes_consistent"),
        ("price_sensitivity_model", "model_tested_on_later_weeks"),
        ("registered_model", "model_passed_promotion_gate"),
        ("api_release", "released_model_answers"),
        ("basket_predictions", "one_prediction_per_gold_basket"),
        ("basket_predictions", "scored_by_the_released_model"),
    } <= checks
    # The gate blocks the release in the run that registered the model (registered_model judges
    # it, and api_release refuses anything not Approved in any run).
    gate = definitions.get_asset_checks_def(dg.AssetCheckKey(key("registered_model"), "model_passed_promotion_gate"))
    assert all(spec.blocking for spec in gate.check_specs)


def test_sensors_schedules_and_descriptions(definitions):
    approvals = definitions.resolve_sensor_def("model_approval_sensor")
    assert approvals.default_status == dg.DefaultSensorStatus.RUNNING
    releases = definitions.resolve_job_def(approvals.job_name).asset_layer.executable_asset_keys
    assert {k.to_user_string() for k in releases} == {"api_release"}
    assert definitions.resolve_sensor_def("landing_sensor").job_name == "ingest_week"
    assert definitions.resolve_sensor_def("raw_updated_sensor").job_name == "rebuild_lake"
    assert definitions.resolve_schedule_def("weekly_lake_rebuild").job_name == "rebuild_lake"
    for spec in definitions.resolve_all_asset_specs():
        assert spec.description, f"{spec.key.to_user_string()} has no description for the UI"


def test_freshness_policies_and_automation_cover_the_chain(definitions):
    graph = definitions.resolve_asset_graph()
    for name in ("raw_transactions", "gold_baskets", "basket_features", "price_sensitivity_model"):
        assert graph.get(key(name)).freshness_policy is not None, f"{name} has no freshness policy"
    for name in ("basket_features", "price_sensitivity_model", "registered_model", "api_release"):
        assert graph.get(key(name)).automation_condition is not None, f"{name} does not follow its upstream"
    retraining = definitions.resolve_sensor_def("retraining_sensor")
    assert retraining.default_status == dg.DefaultSensorStatus.RUNNING


def test_monitoring_assets_checks_and_the_alert_sensors(definitions):
    graph = definitions.resolve_asset_graph()
    assert not graph.get(key("prediction_log")).is_materializable, "the API writes the prediction log, not Dagster"
    for name, check in (("feature_drift", "serving_features_match_training"), ("live_accuracy", "live_macro_f1_above_floor")):
        node = graph.get(key(name))
        assert node.partitions_def is None and node.automation_condition is not None and node.freshness_policy is not None, name
        assert dg.AssetCheckKey(key(name), check) in graph.asset_check_keys
    assert definitions.resolve_sensor_def("monitoring_automation").default_status == dg.DefaultSensorStatus.RUNNING
    for name in ("asset_check_alerts", "freshness_alerts", "run_failure_alerts"):
        sensor = definitions.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.description, name
        assert {"alert_sink", "dagster_links"} <= sensor.required_resource_keys, name
    retrain = definitions.resolve_sensor_def("retrain_on_breach")
    assert retrain.default_status == dg.DefaultSensorStatus.STOPPED, "a breach retrains only when RETAIL_RETRAIN_ON_DRIFT=true"
    chain = definitions.resolve_job_def(retrain.job_name).asset_layer.executable_asset_keys
    assert {k.to_user_string() for k in chain} == {"price_sensitivity_model", "registered_model", "api_release"}


def test_monitoring_waits_for_its_daily_tick_rather_than_running_at_start(definitions, tmp_path):
    """The monitoring assets never materialized: the first evaluation of their condition launches
    nothing (starting `dagster dev` must not start runs by itself)."""
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(
            defs=definitions, instance=instance, asset_selection=dg.AssetSelection.assets(key("feature_drift"), key("live_accuracy"))
        )
    assert result.total_requested == 0


def test_aws_mode_sends_alerts_to_cloudwatch(tmp_path, monkeypatch):
    from retail_assets.alerts.cloudwatch import CloudWatchAlertSink

    for name, value in {"RETAIL_MODE": "aws", "RETAIL_LAKE": str(tmp_path / "lake"), "RETAIL_TRAINING": "subprocess",
                        "RETAIL_REGISTRY": "local", "RETAIL_RELEASE": "local", "AWS_DEFAULT_REGION": "ap-southeast-1",
                        "RETAIL_ALERTS_NAMESPACE": "RetailMLOpsStaging"}.items():
        monkeypatch.setenv(name, value)
    sink = defs().resources["alert_sink"]
    assert isinstance(sink, CloudWatchAlertSink) and sink.namespace == "RetailMLOpsStaging"
    assert sink.destination == "CloudWatch namespace RetailMLOpsStaging (ap-southeast-1)"


def test_automatic_retraining_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("RETAIL_AUTO_RETRAIN", "false")
    assert defs().resolve_sensor_def("retraining_sensor").default_status == dg.DefaultSensorStatus.STOPPED


def test_one_place_picks_the_backends(tmp_path, monkeypatch):
    """RETAIL_MODE sets the defaults; each backend can be overridden; the lake follows its address."""
    from retail_assets.alerts.sink import LakeAlertSink
    from retail_assets.release.target import RegistryPointerRelease
    from retail_assets.training.launcher import SubprocessTrainingLauncher
    from retail_model.lake import LocalLake, S3Lake
    from retail_model.registry import LakeModelRegistry

    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "lake"))
    resources = defs().resources
    assert isinstance(resources["lake"], LocalLake)
    assert isinstance(resources["trainer"], SubprocessTrainingLauncher)
    assert isinstance(resources["model_registry"], LakeModelRegistry)
    assert isinstance(resources["release_target"], RegistryPointerRelease)
    assert isinstance(resources["alert_sink"], LakeAlertSink)

    for name, value in {"RETAIL_MODE": "aws", "RETAIL_LAKE": "s3://bucket/prefix", "RETAIL_TRAINING": "subprocess",
                        "RETAIL_REGISTRY": "local", "RETAIL_RELEASE": "local", "RETAIL_ALERTS": "local",
                        "AWS_DEFAULT_REGION": "ap-southeast-1"}.items():
        monkeypatch.setenv(name, value)
    lake = defs().resources["lake"]
    assert isinstance(lake, S3Lake) and (lake.bucket, lake.prefix) == ("bucket", "prefix")


def test_settings_errors_say_what_to_set(monkeypatch):
    from retail_assets.settings import ConfigurationError, get_environment

    monkeypatch.setenv("RETAIL_LAKE", "gs://bucket/lake")
    with pytest.raises(ConfigurationError, match="RETAIL_LAKE"):
        get_environment()
    monkeypatch.setenv("RETAIL_LAKE", "s3://bucket/lake")
    monkeypatch.setenv("RETAIL_TRAINING", "sagemakr")
    with pytest.raises(ConfigurationError, match="RETAIL_TRAINING"):
        get_environment()


def test_eks_release_is_built_from_the_settings_without_touching_a_cluster(tmp_path, monkeypatch):
    """RETAIL_RELEASE=eks (the aws default) builds the EKS release; credentials load on its first call."""
    from retail_assets.release.eks import EksRelease
    from retail_assets.release.kubernetes_cluster import KubernetesCluster
    from retail_assets.settings import ConfigurationError, get_environment

    image = "111122223333.dkr.ecr.ap-southeast-1.amazonaws.com/retail-mlops/api@sha256:" + "c" * 64
    for name, value in {"RETAIL_LAKE": str(tmp_path / "lake"), "RETAIL_RELEASE": "eks", "RETAIL_EKS_NAMESPACE": "retail-staging",
                        "RETAIL_API_IMAGE": image, "RETAIL_ROLLOUT_TIMEOUT_SECONDS": "1200",
                        "RETAIL_API_SERVICE_URL": "http://127.0.0.1:8080", "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")}.items():
        monkeypatch.setenv(name, value)
    target = defs().resources["release_target"]
    assert isinstance(target, EksRelease) and isinstance(target.cluster, KubernetesCluster)
    assert (target.settings.namespace, target.settings.deployment, target.settings.image) == ("retail-staging", "retail-api", image)
    assert (target.settings.rollout_timeout_seconds, target.settings.api_url) == (1200, "http://127.0.0.1:8080")
    assert target.destination == "Deployment retail-staging/retail-api"

    monkeypatch.setenv("RETAIL_API_IMAGE", "retail-mlops/api:latest")
    with pytest.raises(ConfigurationError, match="RETAIL_API_IMAGE"):
        get_environment()


def test_one_setting_sets_how_often_every_sensor_looks(definitions, tmp_path, monkeypatch):
    """RETAIL_SENSOR_INTERVAL_SECONDS: every sensor looks that often, and is otherwise the sensor it was."""
    defaults = {s.name: s.minimum_interval_seconds for s in definitions.sensors}
    assert defaults == {
        "landing_sensor": 30, "raw_updated_sensor": 60, "features_follow_gold": 30, "retraining_sensor": 30,
        "model_approval_sensor": 30, "basket_scoring_sensor": 60, "monitoring_automation": 30, "retrain_on_breach": 60,
        "asset_check_alerts": 30, "run_failure_alerts": 30, "freshness_alerts": 60,
    }, "unset, each sensor keeps the interval it declares"
    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("RETAIL_SENSOR_INTERVAL_SECONDS", "5")
    fast = defs()
    assert {s.name: s.minimum_interval_seconds for s in fast.sensors} == dict.fromkeys(defaults, 5)
    for name in defaults:
        before, after = definitions.resolve_sensor_def(name), fast.resolve_sensor_def(name)
        assert type(after) is type(before), name
        assert (after.job_name if after.has_jobs else None) == (before.job_name if before.has_jobs else None), name
        assert after.asset_selection == before.asset_selection and after.default_status == before.default_status, name
        assert after.required_resource_keys == before.required_resource_keys and after.description == before.description, name
    # The same evaluation: the landing sensor on an empty lake says what it said before.
    landing = fast.resolve_sensor_def("landing_sensor")
    with dg.instance_for_test() as instance:
        result = landing(dg.build_sensor_context(instance=instance, resources={"lake": fast.resources["lake"]}))
    assert not result.run_requests and "no new files in" in result.skip_reason.skip_message

    monkeypatch.setenv("RETAIL_SENSOR_INTERVAL_SECONDS", "0")
    with pytest.raises(ConfigurationError, match="RETAIL_SENSOR_INTERVAL_SECONDS: Input should be greater than 0"):
        get_environment()


def test_loading_the_code_location_leaves_the_model_libraries_unloaded():
    """Every run worker, sensor tick and the UI load the definitions: scikit-learn and matplotlib
    (seconds to import on a busy machine) load only in the steps that train, score or draw."""
    import subprocess
    import sys

    probe = ("import sys; from retail_assets.definitions import defs; defs(); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'matplotlib', 'xgboost', 'sagemaker'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_loading_the_code_location_prints_no_warnings(tmp_path):
    """What the CLI, `dagster dev` and every run worker print when they load the code location: no
    Dagster beta or preview notices (the assets' BackfillPolicy, the defs-folder loader)."""
    import os
    import subprocess
    import sys

    loaded = subprocess.run(
        [sys.executable, "-W", "always", "-c", "from retail_assets.definitions import defs; defs()"],
        env={**os.environ, "RETAIL_LAKE": str(tmp_path / "lake"), "XDG_RUNTIME_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "Warning" not in loaded.stderr, loaded.stderr


def test_step_processes_start_with_the_instance_storage_already_imported(tmp_path):
    """A run's step processes are forked from a server that preloaded `step_preload_modules()`.
    Opening the instance is the first thing a step process does: for the SQLite instance the CLI
    and `make ui` write it must import nothing more of Dagster, SQLAlchemy or Alembic (they cost
    about 1.9 s per step when they were imported there), and every module the Helm chart's
    PostgreSQL instance names (storage, run launcher and coordinator, S3 compute logs) is preloaded."""
    import json
    import subprocess
    import sys

    from tests.helpers.dagster_platform import instance_yaml
    from tests.helpers.postgres import PostgresServer

    chart = instance_yaml(PostgresServer("127.0.0.1", 5432, 0, tmp_path), "dagster", "logs", None)
    chart_modules = sorted({section["module"] for section in chart.values() if isinstance(section, dict) and "module" in section})
    probe = f"""
import importlib, json, pathlib, sys
from retail_assets.definitions import step_preload_modules
for name in step_preload_modules():
    importlib.import_module(name)
preloaded = set(sys.modules)
import dagster as dg
from dagster._core.instance.ref import InstanceRef
from retail_assets.event_store import instance_settings
home = pathlib.Path({str(tmp_path / "home")!r})
home.mkdir()
(home / "dagster.yaml").write_text(instance_settings(home))
with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))):
    pass
print(json.dumps({{"opened": sorted(set(sys.modules) - preloaded), "missing": [m for m in {chart_modules!r} if m not in preloaded]}}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env={"RETAIL_LAKE": str(tmp_path / "lake"), "PATH": ""})
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert [m for m in found["opened"] if m.split(".")[0] in {"dagster", "sqlalchemy", "alembic", "retail_assets"}] == []
    assert len(chart_modules) >= 6 and found["missing"] == []


def test_the_sensors_lake_jobs_run_in_one_process_and_other_runs_fork_their_steps(definitions):
    """ingest_week, rebuild_lake and score_weeks (the landing sensor's, raw_updated_sensor's and the
    weekly schedule's, basket_scoring_sensor's jobs) run their steps in the run's own process, as
    `retail-mlops materialize` does; a run from the UI's Materialize forks each step from the
    preloaded server (bench/step_workers.py)."""
    for name in ("ingest_week", "rebuild_lake", "score_weeks"):
        assert definitions.resolve_job_def(name).executor_def.name == dg.in_process_executor.name, name
    assert definitions.resolve_implicit_global_asset_job_def().executor_def.name == dg.multi_or_in_process_executor.name


def test_the_definitions_are_built_once_per_process_and_settings(monkeypatch, tmp_path):
    """Dagster reconstructs the definitions twice in every step process; the second time is free.
    A changed setting (a test's, or a user's in a long-lived process) builds them again with it."""
    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "lake"))
    monkeypatch.delenv("RETAIL_SENSOR_INTERVAL_SECONDS", raising=False)
    first = defs()
    assert defs() is first
    monkeypatch.setenv("RETAIL_SENSOR_INTERVAL_SECONDS", "7")
    faster = defs()
    assert faster is not first and faster.resolve_sensor_def("landing_sensor").minimum_interval_seconds == 7
    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "other"))
    assert defs().resources["lake"] is not faster.resources["lake"]
