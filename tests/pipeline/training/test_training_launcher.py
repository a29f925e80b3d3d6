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


def test_the_search_budget_setting_reaches_every_job_unless_the_run_config_sets_one(tmp_path, monkeypatch):
    """RETAIL_TRAINING_BUDGET_SECONDS -> the launcher -> the job's budget_seconds hyperparameter."""
    from retail_assets.backends import training_launcher
    from retail_assets.settings import get_environment

    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("RETAIL_TRAINING_BUDGET_SECONDS", "45")
    launcher = training_launcher(get_environment(), LocalLake(tmp_path / "lake"))
    assert launcher.job_hyperparameters({"search_size": "1"}) == {"search_size": "1", "budget_seconds": "45"}
    assert launcher.job_hyperparameters({"budget_seconds": "5"}) == {"budget_seconds": "5"}  # the run config wins
    assert SubprocessTrainingLauncher(LocalLake(tmp_path / "lake")).job_hyperparameters({}) == {}  # no setting: the job's default
