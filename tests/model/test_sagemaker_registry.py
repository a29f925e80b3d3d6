"""The SageMaker Model Registry backend on moto's server over HTTP, and the API serving from it."""

from __future__ import annotations

import pytest
from tests.helpers.training_data import request_body, train_small_model
from fastapi.testclient import TestClient

from retail_assets.release.approvals import next_release
from retail_model.lake import S3Lake
from retail_model.registry import APPROVED, PENDING, REJECTED, RegistryError, VersionExistsError
from retail_model.registry.sagemaker import SageMakerModelRegistry

LINEAGE = {"data_versions": {"features": 7, "gold": 12}, "feature_version": "1", "code_version": "git:0123abcd", "training_job": "price-sensitivity-v1"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("sagemaker-registry-model"))


@pytest.fixture
def registry(aws, trained) -> SageMakerModelRegistry:
    lake = S3Lake(f"s3://{aws.bucket}/lake", aws.settings())
    for version in ("v1", "v2"):
        lake.upload_directory(trained[0], f"models/{version}")
    return SageMakerModelRegistry(lake, f"group-{aws.bucket}", aws.settings())


def register(registry, version: str, status: str = PENDING):
    metrics = {"accuracy": 0.91, "macro_f1": 0.9034, "n_train": 1500, "n_test": 500}
    return registry.register(version, registry.lake.uri_of(f"models/{version}"), "1", metrics, status,
                             reason="passed the promotion gate: macro_f1 0.9034 >= 0.7", actor="promotion-gate", lineage=LINEAGE)


def test_a_version_is_a_model_package_with_status_metrics_and_lineage(registry, aws):
    entry = register(registry, "v1")
    packages = aws.client("sagemaker").list_model_packages(ModelPackageGroupName=registry.group)["ModelPackageSummaryList"]
    assert [p["ModelPackageDescription"] for p in packages] == ["v1"]
    package = aws.client("sagemaker").describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == PENDING
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == registry.lake.uri_of("models/v1/metrics.json")
    assert package["MetadataProperties"]["CommitId"] == "git:0123abcd"
    assert package["MetadataProperties"]["GeneratedBy"] == "price-sensitivity-v1"
    properties = package["CustomerMetadataProperties"]
    assert properties["retail:lineage:data_versions.gold"] == "12" and properties["retail:metric:macro_f1"] == "0.903400"

    assert (entry.version, entry.status, entry.model_uri, entry.package_arn) == ("v1", PENDING, registry.lake.uri_of("models/v1"), packages[0]["ModelPackageArn"])
    assert entry.metrics == {"accuracy": 0.91, "macro_f1": 0.9034, "n_train": 1500, "n_test": 500}
    assert entry.lineage == LINEAGE
    assert entry.history[0]["actor"] == "promotion-gate"
    with pytest.raises(VersionExistsError):
        register(registry, "v1", APPROVED)
    assert registry.get("v1").status == PENDING


def test_decisions_update_sagemaker_and_keep_their_history(registry, aws):
    register(registry, "v1")
    approved = registry.decide("v1", APPROVED, "reviewed the model card", "ana")
    package = aws.client("sagemaker").describe_model_package(ModelPackageName=approved.package_arn)
    assert package["ModelApprovalStatus"] == APPROVED
    assert package["ApprovalDescription"] == "ana: reviewed the model card"
    assert package["CustomerMetadataProperties"]["retail:version"] == "v1"  # not lost by the update
    assert [h["status"] for h in registry.get("v1").history] == [PENDING, APPROVED]
    registry.decide("v1", REJECTED, "leaks a holiday week", "bo")
    with pytest.raises(RegistryError, match="stays rejected"):
        registry.decide("v1", APPROVED, "again", "ana")


def test_an_approval_made_in_sagemaker_is_seen_released_and_served_by_the_api(registry, aws, trained, monkeypatch):
    register(registry, "v1", APPROVED)
    registry.record_release("v1")
    register(registry, "v2")
    # A reviewer approves v2 in SageMaker Studio: the registry sees it as a decision.
    aws.client("sagemaker").update_model_package(
        ModelPackageArn=registry.get("v2").package_arn, ModelApprovalStatus=APPROVED, ApprovalDescription="looks good",
        CustomerMetadataProperties=aws.client("sagemaker").describe_model_package(ModelPackageName=registry.get("v2").package_arn)["CustomerMetadataProperties"],
    )
    entry = registry.get("v2")
    assert entry.status == APPROVED and entry.approved_by_decision
    assert entry.history[-1]["reason"] == "looks good"
    request = next_release(registry)
    assert (request.version, request.run_key) == ("v2", "approved:v2")
    registry.record_release("v2", reason=request.reason)  # what the release run does once the smoke test passed

    from retail_api.app import create_app
    from retail_api.settings import Settings

    settings = Settings(mode="aws", lake=registry.lake.uri, model_group=registry.group, aws=aws.settings(), prediction_log=False)
    body = request_body(next(item for item in trained[1] if item.code != "XX"))
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/predict", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == "v2"
