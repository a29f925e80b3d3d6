"""The local launcher runs the entrypoint as SageMaker would, and reports a failed job clearly."""

import pytest

from retail_assets.resources import LocalTrainingLauncher, TrainingFailedError


def test_a_failed_job_raises_with_the_entrypoints_reason(tmp_path):
    job_dir = tmp_path / "job"
    (job_dir / "input" / "data" / "train").mkdir(parents=True)  # a channel with no files
    (job_dir / "input" / "data" / "test").mkdir(parents=True)
    with pytest.raises(TrainingFailedError, match="exited with code 1: training input error") as failure:
        LocalTrainingLauncher().train(job_dir, tmp_path / "model", {})
    assert "train" in str(failure.value)
    assert (job_dir / "output" / "failure").exists()
    assert not (tmp_path / "model" / "model.joblib").exists()


def test_unknown_hyperparameters_fail_the_job(tmp_path):
    job_dir = tmp_path / "job"
    with pytest.raises(TrainingFailedError, match=r"unknown hyperparameters \['learning_rat'\]"):
        LocalTrainingLauncher().train(job_dir, tmp_path / "model", {"learning_rat": "0.1"})
