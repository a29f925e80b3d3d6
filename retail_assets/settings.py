"""The pipeline's settings: read once, when the definitions load (or by the CLI), never at import.

The shared part (mode, lake, registry, AWS) is `retail_model.settings.SharedSettings`, which
the API's settings extend too. Each backend defaults from `RETAIL_MODE` and may be overridden
on its own, e.g. an S3 lake with subprocess training for a team without SageMaker quota.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError

from retail_model.settings import ConfigurationError, SharedSettings

__all__ = ["ConfigurationError", "PipelineSettings", "get_environment"]

_KUBERNETES_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"  # an RFC 1123 label: namespace and Deployment names


class PipelineSettings(SharedSettings):
    training: Literal["subprocess", "sagemaker"] | None = None
    release: Literal["local", "eks"] | None = None
    alerts: Literal["local", "cloudwatch"] | None = None
    # The promotion gate (training/gate.py): floors on the test weeks, and how much macro-F1 a new
    # model may lose against the serving one on the same weeks.
    min_accuracy: float = Field(default=0.75, ge=0, le=1)
    min_macro_f1: float = Field(default=0.70, ge=0, le=1)
    min_class_precision: float = Field(default=0.65, ge=0, le=1)
    champion_margin: float = Field(default=0.01, ge=0, le=1)
    auto_approve: bool = True  # a model that passes the gate is Approved without a person
    auto_retrain: bool = True  # a gold update retrains the model without anyone asking
    # Alerts and monitoring (docs/monitoring.md): where alerts link back to, the CloudWatch
    # namespace the alarms watch, and when the served model counts as drifted or degraded.
    alerts_namespace: str = Field(default="RetailMLOps", min_length=1, max_length=255)
    dagster_url: str = "http://127.0.0.1:3000"  # the Dagster UI as on-call reaches it
    drift_warn_psi: float = Field(default=0.1, gt=0)  # PSI of any feature above this: a WARN
    drift_fail_psi: float = Field(default=0.25, gt=0)  # ... above this: an ERROR (the usual "major shift")
    drift_window_days: int = Field(default=7, gt=0)  # recent predictions compared with training
    live_min_macro_f1: float | None = Field(default=None, ge=0, le=1)  # default: RETAIL_MIN_MACRO_F1
    live_window_weeks: int = Field(default=4, gt=0)  # latest labelled weeks the live score covers
    monitor_min_rows: int = Field(default=500, gt=0)  # fewer predictions (or labels) judge nothing
    retrain_on_drift: bool = False  # a drift or accuracy breach (ERROR) requests a retrain
    # How often every sensor looks, in seconds; unset, each keeps its own (30 s, 60 s for the
    # heavier looks). Dagster's daemon evaluates sensors at most every 5 s, whatever is set here.
    sensor_interval_seconds: int | None = Field(default=None, gt=0)
    training_timeout_seconds: int = Field(default=3600, gt=0)  # also the SageMaker job's MaxRuntimeInSeconds
    # The model search's time budget (the job's budget_seconds hyperparameter; 0 = none). The refit
    # and reading the data come on top, so keep it well below training_timeout_seconds.
    training_budget_seconds: float = Field(default=60, ge=0)
    # SageMaker training (RETAIL_TRAINING=sagemaker, the aws default): the execution role, the
    # training image (deploy/docker/training.Dockerfile), the instance, managed spot (the aws
    # ConfigMap turns it on).
    sagemaker_role_arn: str | None = None
    sagemaker_image_uri: str | None = None
    sagemaker_instance_type: str = "ml.m5.xlarge"
    sagemaker_volume_size_gb: int = Field(default=30, gt=0)
    sagemaker_spot: bool = False
    sagemaker_max_wait_seconds: int = Field(default=7200, gt=0)  # spot: runtime + waiting for capacity
    sagemaker_poll_seconds: float = Field(default=30.0, gt=0)
    sagemaker_output_kms_key_id: str | None = None  # the lake's key (Terraform sets it): model.tar.gz under it
    # The EKS release (RETAIL_RELEASE=eks, the aws default; docs/deploy.md, "Releasing from Dagster"):
    # the API's Deployment, the image to roll out with the model (unset: keep the one running),
    # how long a rollout may take, and where the smoke prediction reaches the Service.
    eks_namespace: str = Field(default="retail", pattern=_KUBERNETES_NAME)
    eks_deployment: str = Field(default="retail-api", pattern=_KUBERNETES_NAME)
    api_image: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")
    rollout_timeout_seconds: int = Field(default=900, gt=0)  # above the Deployment's progressDeadlineSeconds (600)
    rollout_poll_seconds: float = Field(default=5.0, gt=0)
    api_service_url: str | None = None  # unset: http://<deployment>.<namespace>.svc.cluster.local

    @property
    def training_backend(self) -> Literal["subprocess", "sagemaker"]:
        return self.training or ("sagemaker" if self.mode == "aws" else "subprocess")

    @property
    def release_backend(self) -> Literal["local", "eks"]:
        return self.release or ("eks" if self.mode == "aws" else "local")

    @property
    def alerts_backend(self) -> Literal["local", "cloudwatch"]:
        return self.alerts or ("cloudwatch" if self.mode == "aws" else "local")


def get_environment() -> PipelineSettings:
    try:
        return PipelineSettings()
    except ValidationError as error:
        problems = "; ".join(f"{_variable(e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"invalid RETAIL_* settings: {problems}") from error


def _variable(location: tuple) -> str:
    """The environment variable a validation error is about (RETAIL_LAKE, not `lake`)."""
    return f"RETAIL_{str(location[0]).upper()}" if location else "RETAIL_* settings"
