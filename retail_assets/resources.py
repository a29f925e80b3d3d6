"""Typed resources: each external system behind one interface, its implementation chosen in defs/resources.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from retail_assets.lake import LakePaths
from retail_features.registry import LocalModelRegistry


class LakeResource(dg.ConfigurableResource):
    """Where the lake lives. Local mode: a directory."""

    root: str

    @property
    def paths(self) -> LakePaths:
        return LakePaths(Path(self.root))


class TrainingFailedError(Exception):
    """The training entrypoint exited non-zero; the message carries the end of its log."""


@dataclass(frozen=True)
class TrainingRun:
    model_dir: Path
    log_file: Path


class TrainingLauncher(dg.ConfigurableResource):
    """Runs the SageMaker-contract training entrypoint on prepared train/test channels."""

    def train(self, job_dir: Path, model_dir: Path, hyperparameters: dict) -> TrainingRun:
        raise NotImplementedError


class LocalTrainingLauncher(TrainingLauncher):
    """The entrypoint as a local subprocess, with the environment a SageMaker container gives it."""

    timeout_seconds: int = 3600

    def train(self, job_dir: Path, model_dir: Path, hyperparameters: dict) -> TrainingRun:
        model_dir.mkdir(parents=True, exist_ok=True)
        output_dir = job_dir / "output" / "data"
        output_dir.mkdir(parents=True, exist_ok=True)
        log_file = job_dir / "training.log"
        environment = {
            **os.environ,
            "SM_MODEL_DIR": str(model_dir),
            "SM_CHANNEL_TRAIN": str(job_dir / "input" / "data" / "train"),
            "SM_CHANNEL_TEST": str(job_dir / "input" / "data" / "test"),
            "SM_OUTPUT_DATA_DIR": str(output_dir),
            "SM_OUTPUT_DIR": str(job_dir / "output"),
            "SM_HPS": json.dumps(hyperparameters),
        }
        with log_file.open("w") as log:
            completed = subprocess.run(
                [sys.executable, "-m", "retail_assets.training_entrypoint"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=self.timeout_seconds,
                check=False,
            )
        if completed.returncode != 0:
            failure = job_dir / "output" / "failure"  # SageMaker's failure-reason file
            reason = failure.read_text().strip() if failure.exists() else ""
            tail = "\n".join(log_file.read_text().splitlines()[-25:])
            raise TrainingFailedError(
                f"training exited with code {completed.returncode}: {reason or 'see the log'}\nend of {log_file}:\n{tail}"
            )
        return TrainingRun(model_dir=model_dir, log_file=log_file)


class ModelRegistryResource(dg.ConfigurableResource):
    """The model registry. Local mode: versioned JSON entries under the lake's registry/."""

    lake_root: str
    group: str = "price-sensitivity"

    @property
    def registry(self) -> LocalModelRegistry:
        return LocalModelRegistry(Path(self.lake_root), self.group)


class PromotionGate(dg.ConfigurableResource):
    """What a trained model must reach on its held-out test set before it may be registered as Approved."""

    min_macro_f1: float = 0.6
    auto_approve: bool = True
