"""Releases take turns: one lock per registry, held from the verdict to the switch.

Every path that changes what serves takes it: the `api_release` asset (a release or an approval
sensor's rollback) and `retail-mlops models reject` (the rollback of a rejected serving version).
A whole EKS rollout can sit inside it (RETAIL_ROLLOUT_TIMEOUT_SECONDS, 900 s by default); the
lake keeps its lease renewed meanwhile, so a crashed holder stops blocking once its lease ends.
"""

from __future__ import annotations

import contextlib

from retail_model.lake import Lake
from retail_model.registry import ModelRegistry

# The asset waits out the longest rollout another run may be in the middle of, twice over.
RELEASE_LOCK_WAIT_SECONDS = 1800.0


def release_turn(lake: Lake, registry: ModelRegistry, timeout: float = RELEASE_LOCK_WAIT_SECONDS) -> contextlib.AbstractContextManager[None]:
    """Hold the registry's release lock; raises `LockBusyError` after `timeout` seconds."""
    return lake.lock(f"{registry.prefix}/.release.lock", timeout=timeout)
