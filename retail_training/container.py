"""The training container's start as SageMaker runs it: as root, with /opt/ml made by root.

SageMaker creates `/opt/ml/model`, `/opt/ml/output` and `/opt/ml/checkpoints` (restored from S3
for managed spot training) owned by root before the container starts, and offers no setting for
the user the container runs as; AWS's own training images run as root. The training image
(deploy/docker/training.Dockerfile) therefore starts as root and names its unprivileged user in
`RETAIL_TRAINING_USER` (`uid:gid`): `become_training_user` hands the directories the job writes to
that user and switches to it for good, before any data is read. Without `RETAIL_TRAINING_USER`, or
when not root (a local subprocess), nothing changes; `require_writable` then says which directory
the job cannot write, and why, before it spends an hour training.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

TRAINING_USER = "RETAIL_TRAINING_USER"
# Where a SageMaker job writes, by the variable naming each (SM_MODEL_DIR is SageMaker's own; the
# others are set by the launcher, retail_assets/training/sagemaker.py).
WRITABLE_VARIABLES = ("SM_MODEL_DIR", "SM_OUTPUT_DIR", "SM_OUTPUT_DATA_DIR", "SM_CHECKPOINT_DIR")


class TrainingEnvironmentError(RuntimeError):
    """The container cannot write where the job must write: a setup error, not a data error."""


def _training_user(environ: Mapping[str, str]) -> tuple[int, int] | None:
    value = environ.get(TRAINING_USER, "").strip()
    if not value:
        return None
    try:
        uid, _, gid = value.partition(":")
        ids = int(uid), int(gid or uid)
    except ValueError:
        raise TrainingEnvironmentError(f"{TRAINING_USER}={value!r} is not 'uid:gid' (numbers, e.g. 10001:10001)") from None
    if ids[0] == 0:
        raise TrainingEnvironmentError(f"{TRAINING_USER}={value!r} names root; name the image's unprivileged user")
    return ids


def become_training_user(environ: Mapping[str, str]) -> None:
    """As root with RETAIL_TRAINING_USER set: give the job's directories to that user, then become it."""
    ids = _training_user(environ)
    if ids is None or os.geteuid() != 0:
        return
    uid, gid = ids
    for variable in WRITABLE_VARIABLES:
        if environ.get(variable):
            directory = Path(environ[variable])
            directory.mkdir(parents=True, exist_ok=True)
            # Checkpoints restored from S3 are root's files too: a resumed search rewrites them.
            for root, directories, files in os.walk(directory):
                for name in (root, *(os.path.join(root, n) for n in (*directories, *files))):
                    os.chown(name, uid, gid, follow_symlinks=False)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)  # for good: no saved root uid to switch back to
    os.environ["HOME"] = os.environ.get("TMPDIR", "/tmp")  # libraries that cache under ~ need a writable home


def require_writable(directories: Iterable[Path | None]) -> None:
    """Fail before training when a directory the job writes is not writable by this process."""
    for directory in directories:
        if directory is None:
            continue
        existing = directory
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not os.access(existing, os.W_OK | os.X_OK):
            owner = existing.stat().st_uid
            raise TrainingEnvironmentError(
                f"{directory} is not writable by uid {os.geteuid()} ({existing} belongs to uid {owner}). SageMaker creates "
                f"/opt/ml directories as root: run the training image (deploy/docker/training.Dockerfile), which starts as "
                f"root and hands them to {TRAINING_USER}, or set {TRAINING_USER} when your image starts as root"
            )
