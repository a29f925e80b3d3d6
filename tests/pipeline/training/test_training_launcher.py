"""The subprocess launcher runs the entrypoint as SageMaker would, and reports a failed job clearly."""

import pytest

from retail_assets.training.launcher import SubprocessTrainingLauncher, TrainingFailedError
from retail_model.lake import LocalLake


def test_a_failed_job_raises_with_the_entrypoints_reason_and_leaves_no_model(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    lake.write_bytes("training/jobs/v1/input/data/train/notes.txt", b"a channel with no parquet files")
    lake.write_bytes("training/jobs/v1/input/data/test/notes.txt", b"")
    with pytest.raises(TrainingFailedError, match="training job v1 exited with code 1: training input error") as failure:
        SubprocessTrainingLauncher(lake).train("v1", {})
    assert "train channel" in str(failure.value)
    assert "training input error" in lake.read_bytes("training/jobs/v1/output/failure").decode()  # SageMaker's FailureReason
    assert lake.exists("training/jobs/v1/training.log")
    assert lake.list_objects("models") == []


def test_unknown_hyperparameters_fail_the_job(tmp_path):
    with pytest.raises(TrainingFailedError, match=r"unknown hyperparameters \['learning_rat'\]"):
        SubprocessTrainingLauncher(LocalLake(tmp_path / "lake")).train("v1", {"learning_rat": "0.1"})
