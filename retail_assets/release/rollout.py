"""Watching a Deployment's rollout until every replica runs the new revision, or it visibly cannot.

The conditions are `kubectl rollout status`'s (the controller has seen the change; every replica
updated, the old ones gone, the new ones available; the Progressing condition has not passed its
`progressDeadlineSeconds`), plus two it lacks: a pod of the new revision that cannot start
(crash-looping, image not pullable) ends the wait at once, and so does our own deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from retail_assets.release.cluster import REVISION_ANNOTATION, Cluster

# Container waiting reasons that do not resolve by waiting: the pod needs a new image or a fix.
CANNOT_START = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
})


class RolloutFailed(Exception):
    """The rollout did not complete; the message says what the cluster showed."""


@dataclass(frozen=True)
class RolloutProgress:
    done: bool
    revision: str | None
    waiting_for: str  # what is missing, for the error and the log


def progress(deployment: dict) -> RolloutProgress:
    """Where the rollout stands; raises RolloutFailed once the controller has given up on it."""
    metadata, spec, status = deployment["metadata"], deployment.get("spec", {}), deployment.get("status", {})
    revision = (metadata.get("annotations") or {}).get(REVISION_ANNOTATION)
    generation, observed = metadata.get("generation", 0), status.get("observedGeneration", 0)
    if observed < generation:
        return RolloutProgress(False, revision, f"the controller to see generation {generation} (it saw {observed})")
    for condition in status.get("conditions", []):
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            raise RolloutFailed(
                f"revision {revision} made no progress within progressDeadlineSeconds "
                f"({spec.get('progressDeadlineSeconds', 600)} s): {condition.get('message', '')}"
            )
    wanted = spec.get("replicas", 1)
    updated, total, available = status.get("updatedReplicas", 0), status.get("replicas", 0), status.get("availableReplicas", 0)
    if updated < wanted:
        return RolloutProgress(False, revision, f"{updated} of {wanted} replicas updated to revision {revision}")
    if total > updated:
        return RolloutProgress(False, revision, f"{total - updated} replicas of an older revision to stop")
    if available < updated:
        return RolloutProgress(False, revision, f"{available} of {updated} updated replicas available")
    return RolloutProgress(True, revision, "nothing")


def wait_for_rollout(
    cluster: Cluster,
    namespace: str,
    name: str,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Poll until the rollout completes and return the Deployment; RolloutFailed when it cannot."""
    deadline = clock() + timeout_seconds
    while True:
        deployment = cluster.read_deployment(namespace, name)
        state = progress(deployment)
        if state.revision is not None and deployment.get("status", {}).get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0):
            stuck = [pod for pod in cluster.pods(namespace, deployment) if pod.revision == state.revision and CANNOT_START & set(pod.waiting_reasons)]
            if stuck:
                pod = stuck[0]
                reasons = ", ".join(sorted(CANNOT_START & set(pod.waiting_reasons)))
                raise RolloutFailed(
                    f"pod {pod.name} of revision {state.revision} cannot start: {reasons}"
                    f"{f' ({pod.message})' if pod.message else ''}, {pod.restarts} restarts; {len(stuck)} pod(s) like it"
                )
        if state.done:
            return deployment
        if clock() >= deadline:
            raise RolloutFailed(f"the rollout did not finish within {timeout_seconds:g} s: still waiting for {state.waiting_for}")
        sleep(poll_seconds)
