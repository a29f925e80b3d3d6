"""`TrainingLauncher`: channels in the lake in, a model URI and its metrics out.

The launcher runs the SageMaker-contract entrypoint (retail_training/entrypoint.py) on a job's
channels, `training/jobs/<version>/input/data/{train,test}` in the lake, and leaves the model
in the lake's `models/<version>/` (model.joblib, metrics.json). It hands back the model's
URI, never a local path, so the same asset code serves a subprocess here and a SageMaker
training job in aws mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from retail_assets.training.data import channel_prefix, job_prefix
from retail_model.artifact import model_key
from retail_model.lake import Lake
from retail_model.registry import model_directory_uri


class TrainingFailedError(Exception):
    """The training job failed; the message names the job and carries its reason and log tail."""


@dataclass(frozen=True)
class TrainingOutcome:
    model_uri: str  # models/<version>/ in the lake
    metrics: dict
    job_name: str
    log_uri: str


class TrainingLauncher(ABC):
    """Runs one training job for a model version whose channels are already in the lake."""

    @abstractmethod
    def train(self, version: str, hyperparameters: Mapping[str, str], log: Callable[[str], None] | None = None) -> TrainingOutcome:
        """`log` receives progress lines for the run log (the job's status as it changes)."""


class SubprocessTrainingLauncher(TrainingLauncher):
    """The entrypoint as a local subprocess, with the environment a SageMaker container gives it.

    Works on a lake on disk or on S3: the channels are fetched into a scratch job directory, and
    the model directory and the job's log and outputs are put back into the lake.
    """

    def __init__(self, lake: Lake, timeout_seconds: int = 3600) -> None:
        self.lake = lake
        self.timeout_seconds = timeout_seconds

    def train(self, version: str, hyperparameters: Mapping[str, str], log: Callable[[str], None] | None = None) -> TrainingOutcome:
        log = log or (lambda message: None)
        job = job_prefix(version)
        log(f"training job subprocess:{version} started (the SageMaker entrypoint as a local process)")
        with tempfile.TemporaryDirectory(prefix=f"retail-training-{version}-") as scratch:
            job_dir = Path(scratch)
            model_dir, output_dir = job_dir / "model", job_dir / "output"
            (output_dir / "data").mkdir(parents=True)
            with self.lake.local_directory(channel_prefix(version, "train")) as train, self.lake.local_directory(
                channel_prefix(version, "test")
            ) as test:
                completed, log_file = self._run(job_dir, model_dir, output_dir, train, test, hyperparameters)
            self.lake.upload_file(log_file, f"{job}/training.log")
            self.lake.upload_directory(output_dir, f"{job}/output")
            if completed.returncode != 0:
                failure = output_dir / "failure"  # SageMaker's failure-reason file
                reason = failure.read_text().strip() if failure.exists() else ""
                tail = "\n".join(log_file.read_text().splitlines()[-25:])
                raise TrainingFailedError(
                    f"training job {version} exited with code {completed.returncode}: {reason or 'see the log'}\n"
                    f"end of {self.lake.uri_of(job + '/training.log')}:\n{tail}"
                )
            metrics_file = model_dir / "metrics.json"
            if not (model_dir / "model.joblib").is_file() or not metrics_file.is_file():
                raise TrainingFailedError(f"training job {version} succeeded but left no model.joblib/metrics.json")
            metrics = json.loads(metrics_file.read_text())
            self.lake.upload_directory(model_dir, model_key(version))
        log(f"training job subprocess:{version} completed in {metrics.get('training_seconds', '?')}s: winner {metrics.get('winner')}")
        return TrainingOutcome(
            model_uri=model_directory_uri(self.lake, version),
            metrics=metrics,
            job_name=f"subprocess:{version}",
            log_uri=self.lake.uri_of(f"{job}/training.log"),
        )

    def _run(
        self, job_dir: Path, model_dir: Path, output_dir: Path, train: Path, test: Path, hyperparameters: Mapping[str, str]
    ) -> tuple[subprocess.CompletedProcess, Path]:
        log_file = job_dir / "training.log"
        environment = {
            **os.environ,
            "SM_MODEL_DIR": str(model_dir),
            "SM_CHANNEL_TRAIN": str(train),
            "SM_CHANNEL_TEST": str(test),
            "SM_OUTPUT_DATA_DIR": str(output_dir / "data"),
            "SM_OUTPUT_DIR": str(output_dir),
            "SM_HPS": json.dumps(dict(hyperparameters)),
            # XGBoost's OpenMP threads otherwise spin while waiting, which on a busy machine (the
            # Dagster process beside it, other jobs) made a fit several times slower.
            "OMP_WAIT_POLICY": "PASSIVE",
        }
        with log_file.open("w") as log:
            completed = subprocess.run(
                [sys.executable, "-m", "retail_training.entrypoint"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=self.timeout_seconds,
                check=False,
            )
        return completed, log_file
