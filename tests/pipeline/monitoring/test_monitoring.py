"""Monitoring the served model: feature drift (PSI) and live accuracy from late labels.

The hand-checked examples run the plain functions on a few baskets whose numbers are worked out
in the comments. The asset tests run on a copy of the lake the shared pipeline run built (its
released model, features and gold), with a prediction log written by the API's own row builder
(`retail_api.log_shipper.to_frame`) through the `Lake`, as the API's shipper process does;
the model's answers come from the released artefact, loaded as the API loads it.
"""

import math
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import f1_score

from retail_api.log_shipper import to_frame
from retail_api.prediction_spool import Answered
from retail_assets.alerts.forwarding import DagsterLinks
from retail_assets.alerts.sink import LakeAlertSink
from retail_assets.defs.asset_keys import FEATURE_DRIFT
from retail_assets.defs.monitoring.assets import ACCURACY_CHECK, DRIFT_CHECK, feature_drift, live_accuracy
from retail_assets.monitoring.accuracy import label_predictions, latest_weeks_score, weekly_scores
from retail_assets.monitoring.drift import drift_by_feature, psi
from retail_assets.monitoring.policy import MonitoringPolicy
from retail_model.artifact import PriceSensitivityModel
from retail_model.lake import LocalLake
from retail_model.predictions import PARTITION_BY, PREDICTIONS_TABLE
from retail_model.registry import LakeModelRegistry, RegistryEntry

# --- Hand-checked examples ----------------------------------------------------------------------


def test_psi_of_two_histograms_by_hand():
    # Shares 0.5/0.5 against 0.9/0.1: (0.9-0.5)*ln(0.9/0.5) + (0.1-0.5)*ln(0.1/0.5) = 0.2351 + 0.6438
    assert psi(np.array([50, 50]), np.array([90, 10])) == pytest.approx(0.8789, abs=1e-4)
    assert psi(np.array([3, 7]), np.array([30, 70])) == 0.0


def test_a_region_shift_by_hand():
    def rows(regions):
        return pl.DataFrame({"feature_names": [[f"store_region={r}"] for r in regions], "feature_values": [[1.0]] * len(regions)})

    # Training E01,E01,E02,E02 -> shares .5/.5; serving E01 x3, E02 -> .75/.25 (the other bins empty
    # on both sides add nothing): (.25)*ln(1.5) + (-.25)*ln(.5) = 0.1014 + 0.1733 = 0.2747.
    [region] = drift_by_feature(rows(["E01", "E01", "E02", "E02"]), rows(["E01", "E01", "E01", "E02"]))
    assert (region.feature, region.kind, region.bins) == ("store_region", "category", 4)  # E01, E02, other, absent
    assert region.psi == pytest.approx(0.25 * math.log(1.5) - 0.25 * math.log(0.5), abs=1e-3)
    assert region.largest_shift == "store_region=E02 50.0% -> 25.0%"


def test_late_labels_give_the_right_live_accuracy_by_hand():
    gold = pl.LazyFrame(
        {
            "basket_id": ["b1", "b2", "b3", "b4", "b5", "b6", "b7"],
            "shop_week": [200801, 200801, 200801, 200801, 200801, 200802, 200802],
            "basket_price_sensitivity": ["LA", "LA", "MM", "UM", "XX", "MM", "UM"],
        }
    )
    answers = [  # (basket, model, predicted, when)
        ("b1", "v1", "LA", 1), ("b2", "v1", "MM", 1), ("b3", "v1", "MM", 1), ("b4", "v1", "UM", 1),
        ("b5", "v1", "LA", 1),  # XX: never scored
        ("b6", "v1", "LA", 1), ("b6", "v1", "MM", 2),  # the same model asked twice: its latest answer counts
        ("b7", "v1", "UM", 1),
        ("b8", "v1", "LA", 1),  # its week has not landed: waiting for its label
        ("b1", "v2", "UM", 3),  # another model's answer is scored as that model's
    ]
    predictions = pl.LazyFrame(
        {"basket_id": [a[0] for a in answers], "model_version": [a[1] for a in answers], "predicted_code": [a[2] for a in answers],
         "predicted_at": [a[3] for a in answers]}
    )
    labelled = label_predictions(predictions, gold)
    assert (labelled.awaiting_labels, labelled.unclassified, labelled.frame.height) == (1, 1, 7)

    weekly = weekly_scores(labelled.frame).filter(pl.col("model_version") == "v1")
    week1, week2 = weekly.rows(named=True)
    # Week 200801, v1: true LA LA MM UM, predicted LA MM MM UM. High: precision 1/1, recall 1/2;
    # Medium: precision 1/2, recall 1/1; Low: 1 and 1. F1 2/3, 2/3, 1 -> macro 7/9; accuracy 3/4.
    assert (week1["shop_week"], week1["baskets"], week1["accuracy"]) == (200801, 4, 0.75)
    assert (week1["High precision"], week1["High recall"], week1["Medium precision"], week1["Medium recall"]) == (1.0, 0.5, 0.5, 1.0)
    assert week1["macro_f1"] == pytest.approx(7 / 9)
    # Week 200802: MM->MM, UM->UM. No High basket and none predicted High: its F1 counts as 0, as
    # in every metric of the project, so the macro-F1 is (0 + 1 + 1) / 3.
    assert (week2["baskets"], week2["accuracy"], week2["High support"]) == (2, 1.0, 0)
    assert week2["macro_f1"] == pytest.approx(2 / 3)

    window = latest_weeks_score(labelled.frame, "v1", weeks=4)
    # Both weeks pooled: High p 1 r 1/2 (F1 2/3); Medium p 2/3 r 1 (F1 .8); Low 1 -> (2/3+.8+1)/3.
    assert window.weeks == [200801, 200802]
    assert window.scores["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 1) / 3)
    assert window.scores["accuracy"] == pytest.approx(5 / 6)
    assert latest_weeks_score(labelled.frame, "v1", weeks=1).weeks == [200802]


# --- The assets, on the pipeline's lake ---------------------------------------------------------


@dataclass(frozen=True)
class Served:
    entry: RegistryEntry  # the released model's registry entry
    metrics: dict  # its metrics.json
    held_out: pl.DataFrame  # the feature rows of its test weeks (never trained on)
    model: PriceSensitivityModel  # loaded as the API loads it
    source: Path  # the pipeline's lake
    scratch: pytest.TempPathFactory

    def fresh_lake(self) -> LocalLake:
        """A copy of the pipeline's lake with no prediction log, so each test writes its own (other
        tests' API servers log their answers into the shared lake)."""
        copy = self.scratch.mktemp("monitored") / "lake"
        shutil.copytree(self.source, copy, ignore=lambda folder, _: [PREDICTIONS_TABLE] if Path(folder) == self.source else [])
        return LocalLake(copy)


@pytest.fixture(scope="module")
def served(pipeline_run, tmp_path_factory) -> Served:
    registry = pipeline_run.registry
    entry = registry.serving_entry()
    metrics = pipeline_run.metrics(entry.version)
    features = pipeline_run.store.scan("features", version=metrics["data_versions"]["features"]).collect()
    held_out = features.filter(pl.col("shop_week").is_in(metrics["split"]["test_weeks"]))
    return Served(entry, metrics, held_out, registry.load_model(entry), pipeline_run.lake, tmp_path_factory)


def log_predictions(lake: LocalLake, entry, model, rows: pl.DataFrame, edit=None) -> int:
    """Score `rows` with the served model and write what the API would log for them."""
    features = [dict(zip(names, values, strict=True)) for names, values in zip(rows["feature_names"], rows["feature_values"], strict=True)]
    if edit is not None:
        features = [edit(f) for f in features]
    codes, probabilities = model.score(features)
    answered = Answered(f"req-{uuid.uuid4().hex[:8]}", entry.version, entry.feature_version, rows["basket_id"].to_list(), features, codes, probabilities, time.time())
    lake.append(PREDICTIONS_TABLE, to_frame([answered]), partition_by=list(PARTITION_BY))
    return len(codes)


def run_asset(asset, lake: LocalLake, policy: MonitoringPolicy | None = None) -> tuple[dict, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [asset],
        resources={"lake": lake, "model_registry": LakeModelRegistry(lake), "monitoring_policy": policy or MonitoringPolicy(),
                   "alert_sink": LakeAlertSink(lake)},
    )
    [materialization] = result.asset_materializations_for_node(asset.op.name)
    [evaluation] = result.get_asset_check_evaluations()
    return materialization.metadata, evaluation


def drifted(features: dict[str, float]) -> dict[str, float]:
    """A new store opened and took most of the traffic: every basket from one region, spending 4x."""
    moved = {k: v for k, v in features.items() if not k.startswith("store_region=")}
    moved["store_region=N99"] = 1.0
    moved["log_spend"] = features["log_spend"] + math.log(4)
    return moved


def test_a_drifted_prediction_log_trips_the_drift_check(served):
    entry, held_out = served.entry, served.held_out
    steady, shifted = served.fresh_lake(), served.fresh_lake()
    assert log_predictions(steady, entry, served.model, held_out) >= MonitoringPolicy().min_rows
    log_predictions(shifted, entry, served.model, held_out, edit=drifted)

    metadata, evaluation = run_asset(feature_drift, steady)
    assert evaluation.check_name == DRIFT_CHECK
    assert evaluation.passed, evaluation.description  # later weeks of the same shoppers: no shift
    assert metadata["predictions"].value == held_out.height and metadata["model_version"].value == entry.version
    assert metadata["max_psi"].value < MonitoringPolicy().drift_warn_psi
    assert "psi_plot" in metadata and "store_region" in metadata["psi_by_feature"].value

    metadata, evaluation = run_asset(feature_drift, shifted)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "store_region" in evaluation.description and "log_spend" in evaluation.description
    assert "store_region=N99" not in evaluation.description or "(other)" in evaluation.description  # unseen: the other bin
    assert metadata["max_psi"].value > MonitoringPolicy().drift_fail_psi


def test_too_few_predictions_are_not_judged(served):
    lake = served.fresh_lake()
    log_predictions(lake, served.entry, served.model, served.held_out.head(50), edit=drifted)
    _, evaluation = run_asset(feature_drift, lake)
    assert evaluation.passed and evaluation.metadata["judged"].value is False
    assert "fewer than RETAIL_MONITOR_MIN_ROWS=500" in evaluation.description


def test_live_accuracy_on_the_test_weeks_equals_the_models_test_score(served):
    """The API answered the test weeks' baskets; their labels are in gold: the live macro-F1 is
    the test macro-F1 training reported, computed again from the prediction log."""
    metrics, held_out = served.metrics, served.held_out
    lake = served.fresh_lake()
    log_predictions(lake, served.entry, served.model, held_out)
    metadata, evaluation = run_asset(live_accuracy, lake)
    assert evaluation.check_name == ACCURACY_CHECK and evaluation.passed, evaluation.description
    labelled = held_out.filter(pl.col("basket_price_sensitivity") != "XX")
    assert metadata["labelled_baskets"].value == labelled.height == metrics["n_test"]
    assert metadata["live_macro_f1"].value == pytest.approx(metrics["macro_f1"], abs=1e-9)
    assert metadata["awaiting_labels"].value == 0
    assert "by_week_plot" in metadata and str(metrics["split"]["test_weeks"][0]) in metadata["by_week"].value

    # A floor above what the model reaches makes the check fail with ERROR.
    strict = MonitoringPolicy(live_min_macro_f1=min(1.0, metrics["macro_f1"] + 0.01))
    _, evaluation = run_asset(live_accuracy, lake, strict)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert f"below the floor {strict.live_min_macro_f1}" in evaluation.description


def test_a_model_answering_badly_is_caught_by_the_live_score(served):
    held_out = served.held_out
    lake = served.fresh_lake()
    features = [dict(zip(n, v, strict=True)) for n, v in zip(held_out["feature_names"], held_out["feature_values"], strict=True)]
    rotate = {"LA": "UM", "MM": "LA", "UM": "MM"}
    codes = [rotate[c] for c in served.model.score(features)[0]]  # every answer moved to a wrong class
    answered = Answered("req-bad", served.entry.version, served.entry.feature_version, held_out["basket_id"].to_list(), features, codes,
                        [[1 / 3] * 3] * len(codes), time.time())
    lake.append(PREDICTIONS_TABLE, to_frame([answered]), partition_by=list(PARTITION_BY))
    metadata, evaluation = run_asset(live_accuracy, lake)
    scored = held_out.with_columns(pl.Series("predicted", codes)).filter(pl.col("basket_price_sensitivity") != "XX")
    expected = f1_score(scored["basket_price_sensitivity"], scored["predicted"], labels=["LA", "MM", "UM"], average="macro", zero_division=0)
    assert metadata["live_macro_f1"].value == pytest.approx(expected)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR


def test_nothing_to_monitor_before_a_model_serves(tmp_path):
    lake = LocalLake(tmp_path / "empty")
    for asset in (feature_drift, live_accuracy):
        metadata, evaluation = run_asset(asset, lake)
        assert evaluation.passed and evaluation.metadata["judged"].value is False
        assert metadata["verdict"].value.startswith("not judged")


def test_links_point_into_the_dagster_ui():
    links = DagsterLinks("https://dagster.example.com/")
    assert links.run("abc") == "https://dagster.example.com/runs/abc"
    assert links.asset("feature_drift") == "https://dagster.example.com/assets/feature_drift"


def test_a_drift_breach_reaches_cloudwatch_and_asks_for_one_retrain(served, aws, monkeypatch):
    """The project's own definitions in aws alert mode (CloudWatch on moto): the drift check fails,
    the asset_check_alerts sensor puts one data point with the alarm's dimensions, and with
    RETAIL_RETRAIN_ON_DRIFT=true the retrain_on_breach sensor asks for the model chain once."""
    from retail_assets.definitions import defs

    lake = served.fresh_lake()
    log_predictions(lake, served.entry, served.model, served.held_out, edit=drifted)
    namespace = f"Test{aws.bucket}"
    for name, value in {"RETAIL_LAKE": str(lake.root), "RETAIL_ALERTS": "cloudwatch", "RETAIL_ALERTS_NAMESPACE": namespace,
                        "RETAIL_RETRAIN_ON_DRIFT": "true", "RETAIL_DAGSTER_URL": "https://dagster.example.com"}.items():
        monkeypatch.setenv(name, value)
    definitions = defs()
    alerts, retrain = definitions.resolve_sensor_def("asset_check_alerts"), definitions.resolve_sensor_def("retrain_on_breach")
    assert retrain.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.instance_for_test() as instance:
        def evaluate(sensor, cursor=None):
            return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions, resources=definitions.resources))

        cursor = evaluate(alerts).cursor
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(asset_selection=[FEATURE_DRIFT], instance=instance)
        [evaluation] = result.get_asset_check_evaluations()
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
        ticked = evaluate(alerts, cursor)
        assert ticked.skip_reason.skip_message.startswith(f"sent 1 alert(s) to CloudWatch namespace {namespace}")
        assert evaluate(alerts, ticked.cursor).skip_reason.skip_message == "nothing new to send"

        request, again = evaluate(retrain), evaluate(retrain)
        assert request.run_key == again.run_key == f"retrain-after-{DRIFT_CHECK}-{result.run_id}"  # one run per breach
        assert request.tags["retail/breach"] == f"feature_drift.{DRIFT_CHECK}"
        # Once the daemon has launched that run, the same breach asks for nothing more.
        instance.add_run(dg.DagsterRun(job_name=retrain.job_name, run_id=str(uuid.uuid4()), tags=request.tags))
        assert "a retrain was already asked for after it" in evaluate(retrain).skip_message
    points = aws.client("cloudwatch").get_metric_statistics(
        Namespace=namespace, MetricName="AssetCheckFailed",
        Dimensions=[{"Name": "Asset", "Value": "feature_drift"}, {"Name": "Check", "Value": DRIFT_CHECK}, {"Name": "Severity", "Value": "ERROR"}],
        StartTime=datetime.now(UTC) - timedelta(hours=1), EndTime=datetime.now(UTC) + timedelta(minutes=5), Period=3600, Statistics=["Sum"],
    )["Datapoints"]
    assert [p["Sum"] for p in points] == [1.0]
