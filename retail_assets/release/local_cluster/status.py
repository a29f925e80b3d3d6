"""A Deployment's status, as the Deployment controller writes it.

`observedGeneration` (written by the controllers' pass), `replicas`, `updatedReplicas`,
`readyReplicas`, `availableReplicas`, `unavailableReplicas`, and the conditions Kubernetes
documents: `Available` (MinimumReplicasAvailable while `replicas - maxUnavailable` pods are
available) and `Progressing` (NewReplicaSetCreated / FoundNewReplicaSet / ReplicaSetUpdated while
the rollout moves, NewReplicaSetAvailable once complete, and False with ProgressDeadlineExceeded
once it has not moved for `progressDeadlineSeconds`, 600 by default).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from retail_assets.release.cluster import REVISION_ANNOTATION
from retail_assets.release.local_cluster.objects import Store, now_iso, owned


def count(value: object, replicas: int, round_up: bool) -> int:
    """An IntOrString of a rolling update (`1`, `"25%"`) as a number of pods."""
    if isinstance(value, str) and value.endswith("%"):
        share = int(value[:-1]) * replicas / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value if value is not None else 0)


class DeploymentStatus:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self._last_progress: dict[str, tuple[float, tuple]] = {}  # deployment uid -> (when, the status it last progressed to)

    def update(self, deployment: dict) -> None:
        """Recompute the Deployment's status from its ReplicaSets (after the controllers' pass)."""
        namespace, spec = deployment["metadata"]["namespace"], deployment["spec"]
        replica_sets = owned(self.store.list("ReplicaSet", namespace), deployment)
        revision = deployment["metadata"]["annotations"].get(REVISION_ANNOTATION)
        new = next((rs for rs in replica_sets if rs["metadata"]["annotations"].get(REVISION_ANNOTATION) == revision), None)
        wanted = spec["replicas"]
        replicas = sum(rs["status"].get("replicas", 0) for rs in replica_sets)
        updated = new["status"].get("replicas", 0) if new else 0
        available = sum(rs["status"].get("availableReplicas", 0) for rs in replica_sets)
        ready = sum(rs["status"].get("readyReplicas", 0) for rs in replica_sets)
        status = deployment["status"]
        counts = {"replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
                  "unavailableReplicas": max(wanted - available, 0)}
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        min_available = wanted - count(rolling.get("maxUnavailable", "25%"), wanted, round_up=False)
        enough = available >= min_available
        self.set_condition(deployment, "Available", "True" if enough else "False",
                           "MinimumReplicasAvailable" if enough else "MinimumReplicasUnavailable",
                           "Deployment has minimum availability." if enough else "Deployment does not have minimum availability.")
        name = new["metadata"]["name"] if new else deployment["metadata"]["name"]
        uid = deployment["metadata"]["uid"]
        complete = updated == wanted and replicas == wanted and available == wanted
        snapshot = (revision, updated, ready, available, -replicas)
        when, last = self._last_progress.get(uid, (self.clock(), None))
        if complete:
            self.set_condition(deployment, "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.')
        elif snapshot != last:
            when = self.clock()
            if last is not None:
                self.set_condition(deployment, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.')
        elif self.clock() - when > spec.get("progressDeadlineSeconds", 600):
            self.set_condition(deployment, "Progressing", "False", "ProgressDeadlineExceeded", f'ReplicaSet "{name}" has timed out progressing.')
        self._last_progress[uid] = (when, snapshot)
        if any(status.get(k) != v for k, v in counts.items()):
            status.update(counts)
            self.store.touch(deployment)

    def set_condition(self, deployment: dict, kind: str, value: str, reason: str, message: str) -> None:
        conditions = deployment["status"].setdefault("conditions", [])
        current = next((c for c in conditions if c["type"] == kind), None)
        if current and (current["status"], current["reason"], current["message"]) == (value, reason, message):
            return
        stamp = now_iso()
        changed = {"type": kind, "status": value, "reason": reason, "message": message, "lastUpdateTime": stamp,
                   "lastTransitionTime": stamp if not current or current["status"] != value else current["lastTransitionTime"]}
        deployment["status"]["conditions"] = [c for c in conditions if c["type"] != kind] + [changed]
        self.store.touch(deployment)
