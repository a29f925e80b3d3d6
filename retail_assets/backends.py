"""Every backend built from the settings: the one place `RETAIL_MODE` and the per-backend overrides
become objects.

`RETAIL_MODE` sets the defaults and `RETAIL_TRAINING` / `RETAIL_REGISTRY` / `RETAIL_RELEASE` /
`RETAIL_ALERTS` override one backend each; `RETAIL_LAKE` is a directory or an s3:// address. The
Dagster layer (defs/resources.py) and the CLI both call `build_backends`; assets, checks and
sensors take the results as typed resources of the interface and never ask which backend they got.
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_assets.alerts.forwarding import DagsterLinks
from retail_assets.alerts.sink import AlertSink, LakeAlertSink
from retail_assets.monitoring.policy import MonitoringPolicy
from retail_assets.release.smoke import gold_sample
from retail_assets.release.target import RegistryPointerRelease, ReleaseTarget
from retail_assets.settings import ConfigurationError, PipelineSettings
from retail_assets.training.gate import PromotionGate
from retail_assets.training.launcher import SubprocessTrainingLauncher, TrainingLauncher
from retail_assets.training.sagemaker import SageMakerJobSettings, SageMakerTrainingLauncher
from retail_model.lake import Lake, S3Lake, open_lake
from retail_model.registry import ModelRegistry, open_registry


@dataclass(frozen=True)
class Backends:
    """One object per seam, as the settings chose them."""

    lake: Lake
    trainer: TrainingLauncher
    model_registry: ModelRegistry
    release_target: ReleaseTarget
    alert_sink: AlertSink
    promotion_gate: PromotionGate
    monitoring_policy: MonitoringPolicy
    dagster_links: DagsterLinks


def build_backends(settings: PipelineSettings) -> Backends:
    lake = open_lake(settings.lake, settings.aws)
    registry = open_registry(settings, lake)
    return Backends(
        lake=lake,
        trainer=training_launcher(settings, lake),
        model_registry=registry,
        release_target=release_target(settings, registry),
        alert_sink=alert_sink(settings, lake),
        promotion_gate=promotion_gate(settings),
        monitoring_policy=monitoring_policy(settings),
        dagster_links=DagsterLinks(settings.dagster_url),
    )


def training_launcher(settings: PipelineSettings, lake: Lake) -> TrainingLauncher:
    if settings.training_backend == "subprocess":
        return SubprocessTrainingLauncher(lake, settings.training_timeout_seconds)
    missing = [name for name, value in (("RETAIL_SAGEMAKER_ROLE_ARN", settings.sagemaker_role_arn),
                                        ("RETAIL_SAGEMAKER_IMAGE_URI", settings.sagemaker_image_uri)) if not value]
    if missing or not isinstance(lake, S3Lake):
        need = ", ".join(missing + ([] if isinstance(lake, S3Lake) else ["an s3:// RETAIL_LAKE (the job reads its channels from S3)"]))
        raise ConfigurationError(f"RETAIL_TRAINING=sagemaker needs {need}; or set RETAIL_TRAINING=subprocess to train locally")
    job = SageMakerJobSettings(
        role_arn=settings.sagemaker_role_arn,
        image_uri=settings.sagemaker_image_uri,
        instance_type=settings.sagemaker_instance_type,
        volume_size_gb=settings.sagemaker_volume_size_gb,
        max_runtime_seconds=settings.training_timeout_seconds,
        spot=settings.sagemaker_spot,
        max_wait_seconds=settings.sagemaker_max_wait_seconds,
        poll_seconds=settings.sagemaker_poll_seconds,
        output_kms_key_id=settings.sagemaker_output_kms_key_id,
        base_job_name=settings.model_group,
    )
    return SageMakerTrainingLauncher(lake, job, settings.aws)


def promotion_gate(settings: PipelineSettings) -> PromotionGate:
    return PromotionGate(
        min_accuracy=settings.min_accuracy,
        min_macro_f1=settings.min_macro_f1,
        min_class_precision=settings.min_class_precision,
        champion_margin=settings.champion_margin,
        auto_approve=settings.auto_approve,
    )


def release_target(settings: PipelineSettings, registry: ModelRegistry) -> ReleaseTarget:
    if settings.release_backend == "local":
        return RegistryPointerRelease(registry)
    from retail_assets.release.eks import EksRelease, EksReleaseSettings  # the kubernetes client only when asked for
    from retail_assets.release.kubernetes_cluster import KubernetesCluster

    eks = EksReleaseSettings(
        namespace=settings.eks_namespace,
        deployment=settings.eks_deployment,
        image=settings.api_image,
        rollout_timeout_seconds=settings.rollout_timeout_seconds,
        poll_seconds=settings.rollout_poll_seconds,
        service_url=settings.api_service_url,
    )
    # The smoke prediction through the Service sends the same real gold baskets as the model's own smoke test.
    return EksRelease(registry, KubernetesCluster(), eks, baskets=lambda: gold_sample(registry.lake))


def alert_sink(settings: PipelineSettings, lake: Lake) -> AlertSink:
    if settings.alerts_backend == "local":
        return LakeAlertSink(lake)
    from retail_assets.alerts.cloudwatch import CloudWatchAlertSink  # boto3 only when asked for

    return CloudWatchAlertSink(settings.alerts_namespace, settings.aws)


def monitoring_policy(settings: PipelineSettings) -> MonitoringPolicy:
    return MonitoringPolicy(
        drift_warn_psi=settings.drift_warn_psi,
        drift_fail_psi=settings.drift_fail_psi,
        drift_window_days=settings.drift_window_days,
        # By default the live model must keep the floor the promotion gate admitted it with.
        live_min_macro_f1=settings.min_macro_f1 if settings.live_min_macro_f1 is None else settings.live_min_macro_f1,
        live_window_weeks=settings.live_window_weeks,
        min_rows=settings.monitor_min_rows,
    )
