"""`SageMakerTrainingLauncher`: the training entrypoint as a SageMaker training job (aws mode).

The channels are already in the S3 lake (`training/jobs/<version>/input/data/{train,test}`,
written by the training asset); the job reads them, runs `python -m
retail_training.entrypoint` in the project's image (the same script the subprocess
launcher runs locally), and SageMaker uploads /opt/ml/model as `model.tar.gz` under
`sagemaker/jobs/<job>/output/`. The launcher streams the job's status to the run log, then
unpacks the artefact into the lake's `models/<version>/`, the place every later step reads.
A Failed or Stopped job, one that outlives its time limit, or a missing artefact raises
`TrainingFailedError` naming the job and SageMaker's reason; nothing is written to `models/`.

Managed spot training is a setting: with `spot`, SageMaker may wait up to `max_wait_seconds`
for capacity and syncs /opt/ml/checkpoints to `sagemaker/checkpoints/<job>/`, where the
entrypoint keeps its finished search trials so a restarted job does not redo them.

SDK v3 (`sagemaker.core.resources.TrainingJob`) rather than `sagemaker.train.ModelTrainer`:
ModelTrainer sets a container entrypoint only through its own driver scripts, which it stages in
the account's default SageMaker bucket (the execution role may read only the lake), whereas
TrainingJob.create takes the entrypoint as given. The SDK is imported here, at first use:
importing it costs seconds, and local mode never needs it.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from retail_assets.training.data import channel_prefix
from retail_assets.training.launcher import TrainingFailedError, TrainingLauncher, TrainingOutcome
from retail_model.artifact import MODEL_FILE_NAME, model_key
from retail_model.lake import S3Lake
from retail_model.registry import model_directory_uri
from retail_model.settings import DEFAULT_MODEL_GROUP, AwsSettings

ENTRYPOINT = ["python", "-m", "retail_training.entrypoint"]
TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class SageMakerJobSettings:
    role_arn: str
    image_uri: str
    instance_type: str = "ml.m5.xlarge"
    volume_size_gb: int = 30
    max_runtime_seconds: int = 3600
    spot: bool = False
    max_wait_seconds: int = 7200  # spot only: runtime plus waiting for capacity (>= max_runtime_seconds)
    poll_seconds: float = 30.0
    # The lake's KMS key: model.tar.gz is written under it, like everything else in the lake
    # (unset: S3's default encryption of the bucket).
    output_kms_key_id: str | None = None
    # Beyond SageMaker's own limits: how long to wait for the job to report an end before stopping it.
    grace_seconds: float = 600.0
    base_job_name: str = DEFAULT_MODEL_GROUP


def job_name(base: str, version: str) -> str:
    """SageMaker's rule: letters, digits and hyphens, at most 63 characters."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", f"{base}-{version}").strip("-")
    return name[:63].rstrip("-")


class SageMakerTrainingLauncher(TrainingLauncher):
    def __init__(self, lake: S3Lake, job: SageMakerJobSettings, aws: AwsSettings) -> None:
        self.lake, self.job, self.aws = lake, job, aws

    def train(self, version: str, hyperparameters: Mapping[str, str], log: Callable[[str], None] | None = None) -> TrainingOutcome:
        log = log or (lambda message: None)
        name = job_name(self.job.base_job_name, version)
        training_job = self._start(name, version, hyperparameters)
        log(f"started SageMaker training job {name} ({self.job.instance_type}{', managed spot' if self.job.spot else ''})")
        self._wait(training_job, log)
        if training_job.training_job_status != "Completed":
            raise TrainingFailedError(self._why(training_job))
        artefact = str(training_job.model_artifacts.s3_model_artifacts)
        metrics = self._unpack(name, artefact, version)
        log(f"training job {name} completed: model {version} in {model_directory_uri(self.lake, version)}")
        return TrainingOutcome(
            model_uri=model_directory_uri(self.lake, version),
            metrics=metrics,
            job_name=name,
            log_uri=f"cloudwatch:/aws/sagemaker/TrainingJobs/{name}",
        )

    def _start(self, name: str, version: str, hyperparameters: Mapping[str, str]):
        import boto3

        self._export_aws_environment()
        from sagemaker.core.resources import TrainingJob
        from sagemaker.core.shapes import (
            AlgorithmSpecification,
            Channel,
            CheckpointConfig,
            DataSource,
            OutputDataConfig,
            ResourceConfig,
            S3DataSource,
            StoppingCondition,
        )

        channels = [
            Channel(
                channel_name=channel,
                data_source=DataSource(
                    s3_data_source=S3DataSource(
                        s3_data_type="S3Prefix",
                        s3_uri=self.lake.uri_of(channel_prefix(version, channel)) + "/",
                        s3_data_distribution_type="FullyReplicated",
                    )
                ),
            )
            for channel in ("train", "test")
        ]
        # The entrypoint writes its FailureReason and extras there; passive OpenMP waits, as locally.
        environment = {"SM_OUTPUT_DIR": "/opt/ml/output", "SM_OUTPUT_DATA_DIR": "/opt/ml/output/data", "OMP_WAIT_POLICY": "PASSIVE"}
        stopping = StoppingCondition(max_runtime_in_seconds=self.job.max_runtime_seconds)
        spot: dict = {}
        if self.job.spot:
            environment["SM_CHECKPOINT_DIR"] = "/opt/ml/checkpoints"
            stopping = StoppingCondition(
                max_runtime_in_seconds=self.job.max_runtime_seconds,
                max_wait_time_in_seconds=max(self.job.max_wait_seconds, self.job.max_runtime_seconds),
            )
            checkpoints = self.lake.uri_of(f"sagemaker/checkpoints/{name}")
            spot = {"enable_managed_spot_training": True, "checkpoint_config": CheckpointConfig(s3_uri=checkpoints, local_path="/opt/ml/checkpoints")}
        session = boto3.session.Session(region_name=self.aws.region)
        return TrainingJob.create(
            training_job_name=name,
            role_arn=self.job.role_arn,
            algorithm_specification=AlgorithmSpecification(
                training_image=self.job.image_uri, training_input_mode="File", container_entrypoint=ENTRYPOINT
            ),
            input_data_config=channels,
            output_data_config=OutputDataConfig(
                s3_output_path=self.lake.uri_of("sagemaker/jobs"), **({"kms_key_id": self.job.output_kms_key_id} if self.job.output_kms_key_id else {})
            ),
            resource_config=ResourceConfig(instance_type=self.job.instance_type, instance_count=1, volume_size_in_gb=self.job.volume_size_gb),
            stopping_condition=stopping,
            hyper_parameters={k: str(v) for k, v in hyperparameters.items()},
            environment=environment,
            tags=[{"key": "retail:model-version", "value": version}],
            session=session,
            region=session.region_name,
            **spot,
        )

    def _wait(self, training_job, log: Callable[[str], None]) -> None:
        limit = (max(self.job.max_wait_seconds, self.job.max_runtime_seconds) if self.job.spot else self.job.max_runtime_seconds)
        deadline = time.monotonic() + limit + self.job.grace_seconds
        seen = None
        while True:
            training_job.refresh()
            state = (training_job.training_job_status, training_job.secondary_status)
            if state != seen:
                seen = state
                log(f"training job {training_job.training_job_name}: {state[0]} / {state[1]}{_message(training_job)}")
            if state[0] in TERMINAL:
                return
            if time.monotonic() > deadline:
                training_job.stop()
                self._wait_for_stop(training_job)
                raise TrainingFailedError(
                    f"SageMaker training job {training_job.training_job_name} did not finish within {limit + self.job.grace_seconds:.0f}s "
                    f"(status {state[0]} / {state[1]}); it was asked to stop. Raise RETAIL_TRAINING_TIMEOUT_SECONDS "
                    "or check the job in the SageMaker console"
                )
            time.sleep(self.job.poll_seconds)

    def _wait_for_stop(self, training_job) -> None:
        deadline = time.monotonic() + self.job.grace_seconds
        while time.monotonic() < deadline:
            training_job.refresh()
            if training_job.training_job_status in TERMINAL:
                return
            time.sleep(self.job.poll_seconds)

    def _why(self, training_job) -> str:
        name, status = training_job.training_job_name, training_job.training_job_status
        reason = _text(training_job.failure_reason)
        if status == "Stopped":
            detail = _text(training_job.secondary_status)  # MaxRuntimeExceeded, MaxWaitTimeExceeded, Stopped
            return f"SageMaker training job {name} was stopped ({detail}){': ' + reason if reason else ''}; no model was produced"
        return f"SageMaker training job {name} {status}: {reason or 'no FailureReason given; see its CloudWatch log'}"

    def _unpack(self, name: str, artefact: str, version: str) -> dict:
        root = self.lake.uri_of("")
        key = artefact[len(root) + 1 :] if artefact.startswith(root + "/") else None
        if key is None or self.lake.stat(key) is None:
            raise TrainingFailedError(f"SageMaker training job {name} completed but its model artefact {artefact} is missing; nothing was registered")
        with tempfile.TemporaryDirectory(prefix=f"retail-sagemaker-{version}-") as scratch:
            archive, model_dir = Path(scratch) / "model.tar.gz", Path(scratch) / "model"
            self.lake.download_file(key, archive)
            try:
                with tarfile.open(archive, "r:gz") as tar:
                    tar.extractall(model_dir, filter="data")  # no absolute paths or links out of the folder
            except (tarfile.TarError, OSError) as error:
                raise TrainingFailedError(f"SageMaker training job {name}: {artefact} is not a readable model.tar.gz ({error})") from error
            missing = [f for f in (MODEL_FILE_NAME, "metrics.json") if not (model_dir / f).is_file()]
            if missing:
                raise TrainingFailedError(f"SageMaker training job {name}: {artefact} lacks {missing}; nothing was registered")
            metrics_text = (model_dir / "metrics.json").read_text()
            self.lake.upload_directory(model_dir, model_key(version))
        return json.loads(metrics_text)

    def _export_aws_environment(self) -> None:
        """The SDK builds its own boto3 clients, which read the endpoint and region from the
        environment: set them from the settings here, when a job is started, never at import."""
        if self.aws.endpoint_url:
            os.environ["AWS_ENDPOINT_URL"] = self.aws.endpoint_url
        if self.aws.region:
            os.environ["AWS_DEFAULT_REGION"] = self.aws.region


def _message(training_job) -> str:
    transitions = training_job.secondary_status_transitions
    if not isinstance(transitions, list) or not transitions:
        return ""
    message = getattr(transitions[-1], "status_message", None)
    return f" ({message})" if isinstance(message, str) and message else ""


def _text(value) -> str:
    return value if isinstance(value, str) else ""
