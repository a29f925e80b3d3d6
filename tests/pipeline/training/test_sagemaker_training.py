"""Training as a SageMaker training job, against moto's server over HTTP.

moto records the job but runs no container, so `FakeTrainingContainer` (tests/_sagemaker_fake.py)
stands in front of moto's SageMaker API and plays the container with the project's own
entrypoint: it reads the job as moto recorded it, runs its ContainerEntrypoint on the channel
data it finds where InputDataConfig says, and writes model.tar.gz where OutputDataConfig says.
It also plays SageMaker's reporting of a failed, stopped or hanging job, which moto cannot.
"""

from __future__ import annotations


import polars as pl
import pytest
from tests.helpers.sagemaker_fake import FakeTrainingContainer
from tests.helpers.training_data import TEST_WEEKS, TRAIN_WEEKS, feature_table, synthetic_baskets

from retail_assets.training.data import TimeSplit, write_channels
from retail_assets.training.launcher import TrainingFailedError
from retail_assets.training.sagemaker import SageMakerJobSettings, SageMakerTrainingLauncher, job_name
from retail_model.artifact import PriceSensitivityModel
from retail_model.lake import S3Lake

QUICK = {"candidates": "complement_nb,logistic_regression", "search_size": "1"}
LINEAGE = {"features": 4, "gold": 9}


@pytest.fixture
def sagemaker(aws, monkeypatch):
    """SageMaker calls go to the fake container (which forwards to moto); S3 goes to moto directly."""
    fake = FakeTrainingContainer(aws.endpoint_url, aws.region)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", fake.url)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def lake(aws) -> S3Lake:
    lake = S3Lake(f"s3://{aws.bucket}/retail", aws.settings())
    baskets = synthetic_baskets(900, TRAIN_WEEKS, seed=1) + synthetic_baskets(300, TEST_WEEKS, seed=2)
    write_channels(lake, pl.from_arrow(feature_table(baskets)), TimeSplit(TRAIN_WEEKS, TEST_WEEKS), "v1", LINEAGE)
    return lake


def launcher(lake: S3Lake, aws, **job) -> SageMakerTrainingLauncher:
    settings = {
        "role_arn": "arn:aws:iam::123456789012:role/retail-sagemaker",
        "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-mlops/dagster:test",
        "poll_seconds": 0.2,
        **job,
    }
    return SageMakerTrainingLauncher(lake, SageMakerJobSettings(**settings), aws.settings())


def test_a_spot_training_job_runs_the_entrypoint_and_its_model_lands_in_the_lake(sagemaker, lake, aws):
    log: list[str] = []
    key = "arn:aws:kms:us-east-1:123456789012:key/0b3d5b5e-lake"
    outcome = launcher(lake, aws, spot=True, max_wait_seconds=5400, output_kms_key_id=key).train("v1", QUICK, log=log.append)

    assert outcome.job_name == job_name("price-sensitivity", "v1") == "price-sensitivity-v1"
    assert outcome.model_uri == lake.uri_of("models/v1")
    assert lake.exists("models/v1/model.joblib") and lake.exists("models/v1/metrics.json")
    assert outcome.metrics["data_versions"] == LINEAGE  # copied from the train channel's _lineage.json
    assert outcome.metrics["hyperparameters"]["search_size"] == 1  # from SageMaker's hyperparameters.json
    with lake.local_directory("models/v1") as directory:
        assert PriceSensitivityModel.load(directory, version="v1").classes == ["LA", "MM", "UM"]
    assert any("InProgress / Training" in line for line in log) and "Completed / Completed" in log[-2]

    job = aws.client("sagemaker").describe_training_job(TrainingJobName="price-sensitivity-v1")
    assert job["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python", "-m", "retail_training.entrypoint"]
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]} == {
        "train": lake.uri_of("training/jobs/v1/input/data/train") + "/",
        "test": lake.uri_of("training/jobs/v1/input/data/test") + "/",
    }
    assert job["OutputDataConfig"]["S3OutputPath"] == lake.uri_of("sagemaker/jobs")
    assert job["OutputDataConfig"]["KmsKeyId"] == key, "model.tar.gz must be under the lake's key"
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 5400}
    assert job["CheckpointConfig"]["S3Uri"] == lake.uri_of("sagemaker/checkpoints/price-sensitivity-v1")


def test_a_failed_job_fails_with_its_name_and_sagemakers_reason(sagemaker, lake, aws):
    with pytest.raises(TrainingFailedError) as failure:
        launcher(lake, aws).train("v1", {"candidates": "random_forest"})
    message = str(failure.value)
    assert "price-sensitivity-v1 Failed: AlgorithmError: training input error" in message
    assert "candidates='random_forest'" in message
    assert lake.list_objects("models") == []


def test_a_job_sagemaker_stopped_fails_with_why(sagemaker, lake, aws):
    sagemaker.behaviour = "max_runtime"
    with pytest.raises(TrainingFailedError, match=r"price-sensitivity-v1 was stopped \(MaxRuntimeExceeded\): Training job reached"):
        launcher(lake, aws).train("v1", QUICK)
    assert lake.list_objects("models") == []


def test_a_job_that_outlives_its_time_limit_is_stopped(sagemaker, lake, aws):
    sagemaker.behaviour = "hang"
    with pytest.raises(TrainingFailedError, match=r"price-sensitivity-v1 did not finish within 2s .*asked to stop"):
        launcher(lake, aws, max_runtime_seconds=1, grace_seconds=1.0).train("v1", QUICK)
    assert sagemaker.jobs["price-sensitivity-v1"].status == "Stopped"
    assert lake.list_objects("models") == []


def test_a_completed_job_without_its_artefact_fails(sagemaker, lake, aws):
    sagemaker.behaviour = "no_artifact"
    with pytest.raises(TrainingFailedError, match=r"price-sensitivity-v1 completed but its model artefact s3://.*/model.tar.gz is missing"):
        launcher(lake, aws).train("v1", QUICK)
    assert lake.list_objects("models") == []


def test_sagemaker_training_needs_its_settings(tmp_path, monkeypatch):
    from retail_assets.backends import training_launcher
    from retail_assets.settings import ConfigurationError, PipelineSettings
    from retail_model.lake import LocalLake

    settings = PipelineSettings(lake=str(tmp_path), training="sagemaker")
    with pytest.raises(ConfigurationError, match="RETAIL_SAGEMAKER_ROLE_ARN, RETAIL_SAGEMAKER_IMAGE_URI, an s3:// RETAIL_LAKE"):
        training_launcher(settings, LocalLake(tmp_path))
