"""The training entrypoint against /opt/ml as SageMaker leaves it: directories made by root.

SageMaker creates /opt/ml/model, /opt/ml/output and /opt/ml/checkpoints as root before the
container starts and runs the container as the image's USER. No container runs here (docker is
a client only): the tests read the USER and environment the training image gives SageMaker from
deploy/docker/training.Dockerfile and run the real entrypoint as a process with that identity,
dropping root's privileges the way the kernel does for the container's user. The interpreter is
the system's Python 3.11 with the project's venv on its path, because the venv's own interpreter
lives under /root, which an unprivileged uid cannot enter (the image's /opt/venv has no such
problem).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from retail_assets.training.sagemaker import ENTRYPOINT
from tests.deploy.test_deploy_docker import dockerfile_instructions, final_stage
from tests.helpers.deploy_tools import DEPLOY, ROOT
from tests.helpers.training_data import write_train_test

TRAINING_DOCKERFILE = DEPLOY / "docker" / "training.Dockerfile"
DAGSTER_DOCKERFILE = DEPLOY / "docker" / "dagster.Dockerfile"
SYSTEM_PYTHON = Path("/usr/bin/python3.11")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="making root-owned directories and dropping privileges needs root"),
    pytest.mark.skipif(not SYSTEM_PYTHON.is_file(), reason="needs a Python 3.11 outside /root that an unprivileged uid can run"),
]


def image_identity(dockerfile: Path) -> tuple[str, dict[str, str]]:
    """The final stage's USER and ENV, as the container starts."""
    stage = final_stage(dockerfile_instructions(dockerfile))
    users = [arguments for keyword, arguments in stage if keyword == "USER"]
    environment: dict[str, str] = {}
    for keyword, arguments in stage:
        if keyword == "ENV":
            for pair in arguments.split():
                name, _, value = pair.partition("=")
                environment[name] = value.strip('"')
    return (users[-1] if users else "0"), environment


def ids(user: str) -> tuple[int, int]:
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


@pytest.fixture
def opt_ml() -> Iterator[Path]:
    """An /opt/ml look-alike: channels readable by all, model/output/checkpoints made by root (0755),
    and a checkpoint file restored by root, as managed spot training restores them."""
    base = Path(tempfile.mkdtemp(prefix="opt-ml-", dir="/tmp"))
    try:
        base.chmod(0o755)
        write_train_test(base / "input" / "data")
        for name in ("model", "output", "checkpoints"):
            (base / name).mkdir(mode=0o755)
        (base / "checkpoints" / "restored.json").write_text("{}")
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_as(user: str | None, opt_ml: Path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    """The SageMaker job's environment (retail_assets/training/sagemaker.py), as `user` (None: root)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "PYTHONPATH": f"{ROOT}:{sysconfig.get_paths()['purelib']}",
        **{k: v for k, v in environment.items() if k.startswith("RETAIL_")},
        "RETAIL_MODE": "local",  # the entrypoint reads only its channels; no AWS call either way
        "SM_MODEL_DIR": str(opt_ml / "model"),
        "SM_CHANNEL_TRAIN": str(opt_ml / "input" / "data" / "train"),
        "SM_CHANNEL_TEST": str(opt_ml / "input" / "data" / "test"),
        "SM_OUTPUT_DIR": str(opt_ml / "output"),
        "SM_OUTPUT_DATA_DIR": str(opt_ml / "output" / "data"),
        "SM_CHECKPOINT_DIR": str(opt_ml / "checkpoints"),
        "SM_HPS": '{"search_size": 1}',
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    assert ENTRYPOINT[:2] == ["python", "-m"]
    drop = {}
    if user is not None:
        uid, gid = ids(user)
        drop = {"user": uid, "group": gid, "extra_groups": []}
    return subprocess.run(
        [str(SYSTEM_PYTHON), *ENTRYPOINT[1:]], env=env, cwd="/tmp", capture_output=True, text=True, timeout=600, **drop
    )


def test_sagemaker_is_given_the_training_image_and_its_entrypoint():
    """The image RETAIL_SAGEMAKER_IMAGE_URI names is built from training.Dockerfile, whose
    ENTRYPOINT is the one the job passes."""
    _, environment = image_identity(TRAINING_DOCKERFILE)
    stage = final_stage(dockerfile_instructions(TRAINING_DOCKERFILE))
    (entrypoint,) = [json.loads(arguments) for keyword, arguments in stage if keyword == "ENTRYPOINT"]
    assert entrypoint == ENTRYPOINT
    deploy_doc = (ROOT / "docs" / "deploy.md").read_text()
    assert "RETAIL_SAGEMAKER_IMAGE_URI=$REGISTRY/retail-mlops/training:$TAG" in deploy_doc
    assert "file: deploy/docker/training.Dockerfile" in (ROOT / ".github" / "workflows" / "deliver.yml").read_text()
    assert ids(environment["RETAIL_TRAINING_USER"]) == ids(image_identity(DAGSTER_DOCKERFILE)[0]), "the pipeline's uid"


def test_the_pipeline_images_user_cannot_write_what_sagemaker_creates_and_says_so(opt_ml):
    """The defect, kept visible: uid 10001 (the Dagster image's USER) against root's directories
    fails before training with the directory named, and since it cannot write SageMaker's failure
    file either, it says that too and exits 2 instead of leaving a bare 'exit code 1'."""
    user, _ = image_identity(DAGSTER_DOCKERFILE)
    result = run_as(user, opt_ml, {})
    assert result.returncode == 2, result.stderr
    assert f"{opt_ml / 'model'} is not writable by uid {ids(user)[0]}" in result.stderr
    assert f"could not be written to {opt_ml / 'output' / 'failure'}" in result.stderr
    assert not (opt_ml / "model" / "metrics.json").exists()


def test_the_training_image_starts_as_root_and_trains_as_its_user(opt_ml):
    user, environment = image_identity(TRAINING_DOCKERFILE)
    assert ids(user) == (0, 0), "SageMaker's directories are root's: the container must start as root"
    result = run_as(None if ids(user)[0] == 0 else user, opt_ml, environment)
    assert result.returncode == 0, result.stderr
    uid, gid = ids(environment["RETAIL_TRAINING_USER"])
    assert uid != 0
    metrics = json.loads((opt_ml / "model" / "metrics.json").read_text())
    assert 0.0 <= metrics["macro_f1"] <= 1.0
    # Everything the job wrote belongs to the training user: the training code never ran as root.
    written = [p for name in ("model", "output", "checkpoints") for p in (opt_ml / name).rglob("*")]
    assert any(p.name == "model.joblib" for p in written) and (opt_ml / "output" / "data" / "test_predictions.parquet").is_file()
    assert {(p.stat().st_uid, p.stat().st_gid) for p in written} == {(uid, gid)}, "a file was written by root"
    assert not (opt_ml / "output" / "failure").exists()


def test_a_failure_reaches_sagemakers_failure_file_from_the_training_user(opt_ml):
    """An input error after the switch still lands in /opt/ml/output/failure (SageMaker's FailureReason)."""
    _, environment = image_identity(TRAINING_DOCKERFILE)
    for parquet in (opt_ml / "input" / "data" / "train").rglob("*.parquet"):
        parquet.unlink()
    result = run_as(None, opt_ml, environment)
    assert result.returncode == 1, result.stderr
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith("training input error:") and (opt_ml / "output" / "failure").stat().st_uid == ids(environment["RETAIL_TRAINING_USER"])[0]
