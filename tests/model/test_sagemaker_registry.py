"""The SageMaker Model Registry backend on moto's server over HTTP, and the API serving from it."""

from __future__ import annotations

import pytest
from tests.helpers.scoring_data import wait_for
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


def test_a_model_rejected_in_sagemaker_with_nothing_to_roll_back_to_stops_serving(registry, aws, trained):
    """A reviewer rejects the only release in SageMaker Studio: the API stops answering with it."""
    from retail_api.app import create_app
    from retail_api.settings import Settings

    register(registry, "v1", APPROVED)
    registry.record_release("v1")
    settings = Settings(mode="aws", lake=registry.lake.uri, model_group=registry.group, aws=aws.settings(),
                        prediction_log=False, model_poll_seconds=0.05)
    body = request_body(next(item for item in trained[1] if item.code != "XX"))
    sagemaker = aws.client("sagemaker")
    arn = registry.get("v1").package_arn
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"
        sagemaker.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus=REJECTED, ApprovalDescription="biased against small stores",
            CustomerMetadataProperties=sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"],
        )
        ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 503 and r.json())
        assert "model version v1 is Rejected (biased against small stores" in ready["detail"]
        answer = client.post("/v1/predict", json=body)
        assert answer.status_code == 503 and "retail-mlops models approve" in answer.json()["detail"]


def test_a_gate_rejected_version_approved_in_sagemaker_is_never_released(registry, aws, monkeypatch):
    """SageMaker lets a person move a package from Rejected to Approved (console or boto3; moto allows
    it too, as the service does): the registry keeps it Rejected, says why, and nothing releases it."""
    register(registry, "v1", APPROVED)
    registry.record_release("v1")
    registry.register("v2", registry.lake.uri_of("models/v2"), "1", {"macro_f1": 0.41}, REJECTED,
                      reason="failed the promotion gate: macro_f1 0.4100 < 0.7", actor="promotion-gate", lineage=LINEAGE)
    sagemaker = aws.client("sagemaker")
    package_arn = registry.get("v2").package_arn
    sagemaker.update_model_package(
        ModelPackageArn=package_arn, ModelApprovalStatus=APPROVED, ApprovalDescription="ship it",
        CustomerMetadataProperties=sagemaker.describe_model_package(ModelPackageName=package_arn)["CustomerMetadataProperties"],
    )
    assert sagemaker.describe_model_package(ModelPackageName=package_arn)["ModelApprovalStatus"] == APPROVED

    entry = registry.get("v2")
    assert entry.status == REJECTED and not entry.approved_by_decision
    assert [h["status"] for h in entry.history] == [REJECTED, APPROVED, REJECTED]
    assert "stays rejected" in entry.history[-1]["reason"] and "macro_f1 0.4100 < 0.7" in entry.history[-1]["reason"]
    assert next_release(registry) is None
    assert registry.serving_entry().version == "v1"
    with pytest.raises(RegistryError, match="only an Approved version can be released"):
        registry.record_release("v2")

    from typer.testing import CliRunner

    from retail_assets.cli import app

    for name, value in {"RETAIL_MODE": "aws", "RETAIL_LAKE": registry.lake.uri, "RETAIL_REGISTRY": "sagemaker",
                        "RETAIL_RELEASE": "local", "RETAIL_MODEL_GROUP": registry.group}.items():
        monkeypatch.setenv(name, value)
    listed = CliRunner().invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    row = " ".join(next(line for line in listed.output.splitlines() if "v2" in line).split())
    assert "Rejected" in row and "refused: a rejected version stays rejected" in " ".join(listed.output.split())


def test_a_pod_pinned_to_a_gate_rejected_version_approved_in_sagemaker_does_not_serve_it(registry, aws, trained):
    """The console approval does not make a gate-rejected version servable through a pin either."""
    from retail_api.app import create_app
    from retail_api.settings import Settings

    registry.register("v2", registry.lake.uri_of("models/v2"), "1", {"macro_f1": 0.41}, REJECTED,
                      reason="failed the promotion gate: macro_f1 0.4100 < 0.7", actor="promotion-gate", lineage=LINEAGE)
    sagemaker = aws.client("sagemaker")
    arn = registry.get("v2").package_arn
    sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus=APPROVED, ApprovalDescription="ship it",
        CustomerMetadataProperties=sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"],
    )
    settings = Settings(mode="aws", lake=registry.lake.uri, model_group=registry.group, aws=aws.settings(),
                        prediction_log=False, model_version="v2")
    body = request_body(next(item for item in trained[1] if item.code != "XX"))
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "v2 (RETAIL_MODEL_VERSION) is Rejected" in ready.json()["detail"]
        assert client.post("/v1/predict", json=body).status_code == 503
