"""The Deployment, ReplicaSet and HorizontalPodAutoscaler controllers of the local cluster.

They follow what Kubernetes documents for a RollingUpdate Deployment
(https://kubernetes.io/docs/concepts/workloads/controllers/deployment/): a changed pod template
gets a ReplicaSet with the next revision (a template seen before, as after `kubectl rollout undo`,
reuses its ReplicaSet and gets the next revision); the new ReplicaSet scales up while the pods
stay within `replicas + maxSurge`, and old ones scale down only while `replicas - maxUnavailable`
pods stay available, so with the API's maxSurge 1 / maxUnavailable 0 pods are replaced one at a
time, each new one ready before an old one goes. The status carries observedGeneration,
replicas, updatedReplicas, readyReplicas, availableReplicas and the Available and Progressing
conditions; a rollout that makes no progress for `progressDeadlineSeconds` (600 by default) is
marked `ProgressDeadlineExceeded`, and `revisionHistoryLimit` old ReplicaSets are kept. The HPA is
played only as far as its `minReplicas` (metrics are not), which is what sets the API's count.
The Deployment's status and conditions are `status.py`'s.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import time
from collections.abc import Callable

from retail_assets.release.cluster import REVISION_ANNOTATION
from retail_assets.release.local_cluster.objects import Store, now_iso, owned as _owned
from retail_assets.release.local_cluster.status import DeploymentStatus, count as _count

HASH_LABEL = "pod-template-hash"


def _template_key(template: dict) -> str:
    template = copy.deepcopy(template)
    template.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    return json.dumps(template, sort_keys=True)


def _revision(obj: dict) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0"))


class Controllers:
    """One reconcile pass over every Deployment, ReplicaSet and HPA; `start_pod`/`stop_pod` play the kubelet."""

    def __init__(self, store: Store, start_pod: Callable[[dict], None], stop_pod: Callable[[dict], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.start_pod, self.stop_pod, self.clock = store, start_pod, stop_pod, clock
        self.status = DeploymentStatus(store, clock)

    def reconcile(self) -> None:
        with self.store.lock:
            for hpa in self.store.list("HorizontalPodAutoscaler"):
                self._autoscale(hpa)
            for deployment in self.store.list("Deployment"):
                self._sync_deployment(deployment)
            for replica_set in self.store.list("ReplicaSet"):
                self._sync_replica_set(replica_set)
            for deployment in self.store.list("Deployment"):
                self.status.update(deployment)

    # -- HPA: minReplicas only ---------------------------------------------------------------
    def _autoscale(self, hpa: dict) -> None:
        target = hpa["spec"]["scaleTargetRef"]
        deployment = self.store.find("Deployment", hpa["metadata"]["namespace"], target["name"])
        if deployment is None or target.get("kind") != "Deployment":
            return
        low, high = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
        replicas = deployment["spec"].get("replicas", 1)
        if not low <= replicas <= high:
            deployment["spec"]["replicas"] = min(max(replicas, low), high)
            deployment["metadata"]["generation"] += 1
            self.store.touch(deployment)

    # -- Deployment ------------------------------------------------------------------------------
    def _sync_deployment(self, deployment: dict) -> None:
        namespace, spec = deployment["metadata"]["namespace"], deployment["spec"]
        spec.setdefault("replicas", 1)
        owned = _owned(self.store.list("ReplicaSet", namespace), deployment)
        key = _template_key(spec["template"])
        new = next((rs for rs in owned if _template_key(rs["spec"]["template"]) == key), None)
        newest = max((_revision(rs) for rs in owned), default=0)
        progressing = None
        if new is None:
            new = self._create_replica_set(deployment, newest + 1)
            owned.append(new)
            progressing = ("NewReplicaSetCreated", f'Created new replica set "{new["metadata"]["name"]}"')
        elif _revision(new) < newest:  # an old template again (a rollback): it becomes the newest revision
            new["metadata"]["annotations"][REVISION_ANNOTATION] = str(newest + 1)
            self.store.touch(new)
            progressing = ("FoundNewReplicaSet", f'Found new replica set "{new["metadata"]["name"]}"')
        revision = new["metadata"]["annotations"][REVISION_ANNOTATION]
        status = deployment.setdefault("status", {})
        if deployment["metadata"]["annotations"].get(REVISION_ANNOTATION) != revision or status.get("observedGeneration") != deployment["metadata"]["generation"]:
            deployment["metadata"]["annotations"][REVISION_ANNOTATION] = revision
            status["observedGeneration"] = deployment["metadata"]["generation"]
            self.store.touch(deployment)
        if progressing:
            self.status.set_condition(deployment, "Progressing", "True", *progressing)
        self._roll(deployment, new, [rs for rs in owned if rs is not new])
        self._prune_history(deployment, [rs for rs in owned if rs is not new])

    def _create_replica_set(self, deployment: dict, revision: int) -> dict:
        template = copy.deepcopy(deployment["spec"]["template"])
        digest = hashlib.sha256(_template_key(template).encode()).hexdigest()[:10]
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = digest
        selector = copy.deepcopy(deployment["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = digest
        metadata = deployment["metadata"]
        return self.store.create({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{metadata['name']}-{digest}", "namespace": metadata["namespace"],
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {REVISION_ANNOTATION: str(revision)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": metadata["name"],
                                              "uid": metadata["uid"], "controller": True}]},
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0},
        })

    def _roll(self, deployment: dict, new: dict, olds: list[dict]) -> None:
        """One step of the RollingUpdate strategy (Recreate scales the old ones to 0 first)."""
        spec = deployment["spec"]
        wanted = spec["replicas"]
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate":
            for old in olds:
                self._scale(old, 0)
            if all(old["status"].get("replicas", 0) == 0 for old in olds):
                self._scale(new, wanted)
            return
        rolling = strategy.get("rollingUpdate") or {}
        surge = _count(rolling.get("maxSurge", "25%"), wanted, round_up=True)
        unavailable = _count(rolling.get("maxUnavailable", "25%"), wanted, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1  # as Kubernetes does, so a rollout can move at all
        total = sum(rs["spec"]["replicas"] for rs in [new, *olds])
        if new["spec"]["replicas"] > wanted:
            self._scale(new, wanted)
        elif new["spec"]["replicas"] < wanted and total < wanted + surge:
            self._scale(new, min(wanted, new["spec"]["replicas"] + wanted + surge - total))
        total = sum(rs["spec"]["replicas"] for rs in [new, *olds])
        min_available = wanted - unavailable
        new_unavailable = new["spec"]["replicas"] - new["status"].get("availableReplicas", 0)
        may_stop = total - min_available - new_unavailable
        if may_stop <= 0:
            return
        for old in sorted(olds, key=_revision):  # unhealthy old pods go first: they serve nobody
            unhealthy = old["spec"]["replicas"] - old["status"].get("availableReplicas", 0)
            step = min(may_stop, max(unhealthy, 0))
            if step:
                self._scale(old, old["spec"]["replicas"] - step)
                may_stop -= step
        available = sum(rs["status"].get("availableReplicas", 0) for rs in [new, *olds])
        may_stop = min(may_stop, available - min_available)
        for old in sorted(olds, key=_revision):
            step = min(may_stop, old["spec"]["replicas"])
            if step > 0:
                self._scale(old, old["spec"]["replicas"] - step)
                may_stop -= step

    def _scale(self, replica_set: dict, replicas: int) -> None:
        if replica_set["spec"]["replicas"] != replicas:
            replica_set["spec"]["replicas"] = replicas
            self.store.replace(replica_set)

    def _prune_history(self, deployment: dict, olds: list[dict]) -> None:
        limit = deployment["spec"].get("revisionHistoryLimit", 10)
        idle = sorted((rs for rs in olds if rs["spec"]["replicas"] == 0 and rs["status"].get("replicas", 0) == 0), key=_revision)
        for replica_set in idle[:max(0, len(idle) - limit)]:
            self.store.delete("ReplicaSet", replica_set["metadata"]["namespace"], replica_set["metadata"]["name"])

    # -- ReplicaSet --------------------------------------------------------------------------------
    def _sync_replica_set(self, replica_set: dict) -> None:
        namespace = replica_set["metadata"]["namespace"]
        pods = [p for p in _owned(self.store.list("Pod", namespace), replica_set) if "deletionTimestamp" not in p["metadata"]]
        wanted = replica_set["spec"]["replicas"]
        for _ in range(wanted - len(pods)):
            pods.append(self._create_pod(replica_set))
        if len(pods) > wanted:
            # Not-ready pods first, then the youngest: what the ReplicaSet controller deletes first.
            doomed = sorted(pods, key=lambda p: (_ready(p), p["metadata"]["creationTimestamp"]), reverse=False)[:len(pods) - wanted]
            for pod in doomed:
                pod["metadata"]["deletionTimestamp"] = now_iso()
                self.store.touch(pod)
                self.stop_pod(pod)
            pods = [p for p in pods if p not in doomed]
        ready = sum(_ready(p) for p in pods)
        status = {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                  "observedGeneration": replica_set["metadata"]["generation"]}
        if replica_set.get("status") != status:
            replica_set["status"] = status
            self.store.touch(replica_set)

    def _create_pod(self, replica_set: dict) -> dict:
        template = copy.deepcopy(replica_set["spec"]["template"])
        metadata = replica_set["metadata"]
        pod = self.store.create({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{metadata['name']}-{secrets.token_hex(3)[:5]}", "namespace": metadata["namespace"],
                         "labels": template["metadata"].get("labels", {}), "annotations": dict(template["metadata"].get("annotations", {})),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": metadata["name"],
                                              "uid": metadata["uid"], "controller": True}]},
            "spec": template["spec"],
            "status": {"phase": "Pending"},
        })
        self.start_pod(pod)
        return pod

def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions", []))
