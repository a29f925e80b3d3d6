"""The model half of the graph in aws mode, against moto's server over HTTP: the lake on S3, a
SageMaker training job, the SageMaker Model Registry, and the API loading the approved model.

moto runs no training container: `FakeTrainingContainer` (tests/_sagemaker_fake.py) plays it with
the project's own entrypoint on the channels the job names, and writes model.tar.gz where the job
says. The release target stays local (the release record the API polls): EKS is another issue.
"""

from __future__ import annotations

import dagster as dg
import pytest
from tests.helpers.sagemaker_fake import FakeTrainingContainer
from fastapi.testclient import TestClient

from tests.helpers.gold import request_from_gold
from retail_assets.defs.asset_keys import MODEL, REGISTERED, RELEASE
from retail_model.lake import S3Lake
from retail_model.registry import APPROVED, open_registry
from retail_model.settings import SharedSettings

CHAIN = [MODEL, REGISTERED, RELEASE]
QUICK = {"ops": {"price_sensitivity_model": {"config": {"hyperparameters": {"candidates": "complement_nb", "search_size": "1"}}}}}


@pytest.fixture
def aws_mode(aws, pipeline_run, monkeypatch):
    """An S3 lake holding the pipeline's gold and feature tables, and the aws-mode environment."""
    lake = S3Lake(f"s3://{aws.bucket}/retail", aws.settings())
    for table in ("gold", "features"):  # Delta tables are files with relative paths: they move as they are
        lake.upload_directory(pipeline_run.lake / table, table)
    fake = FakeTrainingContainer(aws.endpoint_url, aws.region)
    for name, value in {
        "RETAIL_MODE": "aws",
        "RETAIL_LAKE": lake.uri,
        "RETAIL_MODEL_GROUP": f"prices-{aws.bucket}",
        "RETAIL_RELEASE": "local",
        "RETAIL_ALERTS": "local",
        "RETAIL_SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/retail-sagemaker",
        "RETAIL_SAGEMAKER_IMAGE_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-mlops/dagster:test",
        "RETAIL_SAGEMAKER_POLL_SECONDS": "0.2",
        "AWS_ENDPOINT_URL_SAGEMAKER": fake.url,  # SageMaker via the fake container, which forwards to moto
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("RETAIL_TRAINING", "RETAIL_REGISTRY", "RETAIL_MIN_MACRO_F1", "RETAIL_AUTO_APPROVE"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield lake, fake
    finally:
        fake.close()


def materialize(instance, selection=CHAIN):
    from retail_assets.definitions import defs

    job = defs().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(asset_selection=selection, instance=instance, run_config=QUICK, raise_on_error=False)


def test_train_on_sagemaker_register_in_sagemaker_and_serve_from_s3(aws_mode, aws, pipeline_run):
    lake, fake = aws_mode
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(instance)
    assert result.success
    registry = open_registry(SharedSettings(), lake)  # the SageMaker backend, as the API opens it
    entry = registry.serving_entry()
    assert entry is not None and entry.status == APPROVED and entry.package_arn
    assert entry.lineage["training_job"] == f"prices-{aws.bucket}-{entry.version}"
    assert entry.lineage["data_versions"].keys() >= {"features"}
    assert list(fake.jobs) == [f"prices-{aws.bucket}-{entry.version}"]
    package = aws.client("sagemaker").describe_model_package(ModelPackageName=entry.package_arn)
    assert package["ModelApprovalStatus"] == APPROVED

    # A second training whose job SageMaker stops: the asset fails with the job and the reason,
    # and neither the registry nor what serves changes.
    fake.behaviour = "max_runtime"
    failed = materialize(instance)
    assert not failed.success
    failure = next(e.step_failure_data.error.message for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    assert "was stopped (MaxRuntimeExceeded)" in failure and f"prices-{aws.bucket}-" in failure
    assert [e.version for e in registry.list_versions()] == [entry.version]
    assert registry.serving_entry().version == entry.version

    from retail_api.app import create_app
    from retail_api.settings import Settings

    row = pipeline_run.store.scan("gold").head(1).collect().row(0, named=True)
    with TestClient(create_app(Settings(prediction_log=False))) as client:  # settings from the same environment
        answer = client.post("/v1/predict", json=request_from_gold(row))
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == entry.version
