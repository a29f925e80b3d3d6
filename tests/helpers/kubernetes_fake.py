"""An in-memory Kubernetes for the EKS release tests: no cluster runs here, this plays its part.

It holds the objects `deploy/k8s/render.sh` renders (applied as `kubectl apply` would), and plays
the Deployment controller and the kubelet for one Deployment, one step per status read: the
controller first sees a new template, makes (or reuses) a ReplicaSet with the next revision, then
replaces pods one at a time (maxSurge 1, maxUnavailable 0). How a template's pods behave is set per
model version or image in `outcomes`: "healthy", "crash" (CrashLoopBackOff), "image-pull"
(ErrImagePull / ImagePullBackOff), "stuck" (never ready, no reason given) or "deadline" (the
controller reports ProgressDeadlineExceeded). The Service answers like the API: it decodes the
request with the API's own schema and answers with the version its pods serve, unless `answers`
says otherwise. `broken` names calls that fail as an unreachable API server would.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import msgspec

from retail_api.schemas import BatchIn
from retail_assets.release.cluster import REVISION_ANNOTATION, Cluster, ClusterConflict, ClusterError, PodState, ServiceAnswer

REPLICAS = 2  # what the HPA (minReplicas 2) sets


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeCluster(Cluster):
    def __init__(self, objects: list[dict], outcomes: dict[str, str] | None = None) -> None:
        self.outcomes = outcomes or {}
        self.answers: dict[str, ServiceAnswer] = {}
        self.broken: set[str] = set()
        self.calls: list[str] = []
        self.requests: list[tuple[str, dict, BatchIn]] = []
        self.config_maps: dict[str, dict] = {}
        self.secrets: dict[str, dict] = {}
        self.deployment: dict = {}
        self.replica_sets: list[dict] = []  # {"name", "revision", "template"}
        self._resource_version = 100
        for obj in objects:
            self.apply(obj)
        while not self._done():  # the first deploy settles before any release starts
            self._tick()

    # -- the objects, as kubectl apply leaves them -------------------------------------------
    def apply(self, obj: dict) -> None:
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self._next_version()
        if obj["kind"] == "ConfigMap":
            self.config_maps[obj["metadata"]["name"]] = obj
        elif obj["kind"] == "Secret":
            self.secrets[obj["metadata"]["name"]] = obj
        elif obj["kind"] == "Deployment":
            obj["metadata"].update(uid="d-1", generation=1)
            obj["spec"].setdefault("replicas", REPLICAS)
            obj["status"] = {"observedGeneration": 0, "replicas": 0, "updatedReplicas": 0, "availableReplicas": 0}
            self.deployment = obj
            self._seen, self._ticks, self._serving = False, 0, None
            self._new_pods = (0, 0, "healthy")

    # -- Cluster -------------------------------------------------------------------------------
    def read_deployment(self, namespace: str, name: str) -> dict:
        self._call("read_deployment", name)
        self._tick()
        return copy.deepcopy(self.deployment)

    def read_config_map(self, namespace: str, name: str) -> dict:
        self._call("read_config_map", name)
        if name not in self.config_maps:
            raise ClusterError(f"read ConfigMap {namespace}/{name}: HTTP 404 Not Found")
        return copy.deepcopy(self.config_maps[name])

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        self._call("read_secret_value", name)
        return base64.b64decode(self.secrets[name]["data"][key]).decode()

    def create_config_map(self, namespace: str, body: dict) -> None:
        self._call("create_config_map", body["metadata"]["name"])
        self.config_maps.setdefault(body["metadata"]["name"], copy.deepcopy(body))

    def patch_deployment(self, namespace: str, name: str, patch: dict) -> dict:
        self._call("patch_deployment", name)
        metadata = patch.get("metadata", {})
        if metadata.get("resourceVersion") not in (None, self.deployment["metadata"]["resourceVersion"]):
            raise ClusterConflict(f"patch Deployment {namespace}/{name}: HTTP 409 Conflict: the object has been modified")
        self.deployment["metadata"]["annotations"].update(metadata.get("annotations", {}))
        template = copy.deepcopy(self.deployment["spec"]["template"])
        for change in patch.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            target = next(c for c in template["spec"]["containers"] if c["name"] == change["name"])
            target.update(change)  # envFrom and image: replaced whole, as a strategic merge does
        self._set_template(template)
        return copy.deepcopy(self.deployment)

    def pods(self, namespace: str, deployment: dict) -> list[PodState]:
        self._call("pods", deployment["metadata"]["name"])
        return self._pods()

    def rollback(self, namespace: str, name: str, revision: str, annotations: dict[str, str]) -> None:
        self._call("rollback", revision)
        found = [rs for rs in self.replica_sets if rs["revision"] == revision]
        if not found:
            raise ClusterError(f"Deployment {namespace}/{name} has no ReplicaSet of revision {revision} left")
        self.deployment["metadata"]["annotations"].update(annotations)
        self._set_template(copy.deepcopy(found[0]["template"]))

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout_seconds: float) -> ServiceAnswer:
        self._call("post", url)
        request = msgspec.json.decode(body, type=BatchIn)  # the API's own schema: a bad body fails here
        self.requests.append((url, headers, request))
        version = self.version_of(self._serving["template"]) if self._serving else None
        if version in self.answers:
            return self.answers[version]
        answer = {"model_version": version, "request_id": "r-1", "predictions": [
            {"basket_id": b.basket_id, "price_sensitivity": "Medium", "code": "MM", "probabilities": {"High": 0.2, "Medium": 0.5, "Low": 0.3}}
            for b in request.baskets
        ]}
        return ServiceAnswer(200, json.dumps(answer).encode())

    # -- what the tests look at ----------------------------------------------------------------
    def version_of(self, template: dict) -> str:
        env_from = template["spec"]["containers"][0]["envFrom"]
        return self.config_maps[env_from[0]["configMapRef"]["name"]]["data"]["RETAIL_MODEL_VERSION"]

    def serving_version(self) -> str | None:
        """The model version of the pods that serve: every replica, once the rollout is done."""
        return self.version_of(self._serving["template"]) if self._serving else None

    def settle(self) -> None:
        for _ in range(20):
            self._tick()

    # -- the controller and the kubelet --------------------------------------------------------
    def _call(self, name: str, what: str) -> None:
        self.calls.append(f"{name} {what}")
        if name in self.broken:
            raise ClusterError(f"{name} {what}: the Kubernetes API did not answer (connection refused)")

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _set_template(self, template: dict) -> None:
        template["metadata"].setdefault("labels", {}).pop("pod-template-hash", None)
        if template != self.deployment["spec"]["template"]:
            self.deployment["spec"]["template"] = template
            self.deployment["metadata"]["generation"] += 1
            self._seen, self._ticks = False, 0
            self.deployment["status"].pop("conditions", None)
        self.deployment["metadata"]["resourceVersion"] = self._next_version()

    def _outcome(self) -> str:
        container = self.deployment["spec"]["template"]["spec"]["containers"][0]
        version = self.version_of(self.deployment["spec"]["template"])
        return self.outcomes.get(version) or self.outcomes.get(container["image"]) or "healthy"

    def _current(self) -> dict | None:
        template = self.deployment["spec"]["template"]
        return next((rs for rs in self.replica_sets if rs["template"] == template), None)

    def _done(self) -> bool:
        return self._serving is not None and self._serving is self._current()

    def _tick(self) -> None:
        d, status = self.deployment, self.deployment["status"]
        if not self._seen:  # the controller sees the new template: a ReplicaSet with the next revision
            self._seen = True
            status["observedGeneration"] = d["metadata"]["generation"]
            revision = str(max((int(rs["revision"]) for rs in self.replica_sets), default=0) + 1)
            current = self._current()
            if current is None:
                digest = hashlib.sha256(json.dumps(d["spec"]["template"], sort_keys=True).encode()).hexdigest()[:10]
                current = {"name": f"{d['metadata']['name']}-{digest}", "template": copy.deepcopy(d["spec"]["template"])}
                self.replica_sets.append(current)
            current["revision"] = revision  # a reused ReplicaSet (a rollback) gets the next revision too
            d["metadata"]["annotations"][REVISION_ANNOTATION] = current["revision"]
            # The status the controller writes with the new generation: no replica of it yet.
            if self._done():  # back to the template that serves (a rollback): nothing to replace
                status.update(replicas=REPLICAS, updatedReplicas=REPLICAS, availableReplicas=REPLICAS, readyReplicas=REPLICAS)
            else:
                old = REPLICAS if self._serving else 0
                status.update(replicas=old, updatedReplicas=0, availableReplicas=old, readyReplicas=old)
            self._new_pods = (0, 0, "healthy")
            return
        if self._done():
            status.update(replicas=REPLICAS, updatedReplicas=REPLICAS, availableReplicas=REPLICAS, readyReplicas=REPLICAS)
            return
        self._ticks += 1
        outcome = self._outcome()
        old = REPLICAS if self._serving else 0
        if outcome == "healthy":
            updated, ready = min(REPLICAS, self._ticks), min(REPLICAS, self._ticks - 1)
            old = max(0, old - ready)
            if ready == REPLICAS:
                self._serving = self._current()
        else:  # the surge pod never becomes ready
            updated, ready = 1, 0
            if outcome == "deadline" and self._ticks > 3:
                status["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                         "message": f'ReplicaSet "{self._current()["name"]}" has timed out progressing.'}]
        status.update(replicas=updated + old, updatedReplicas=updated, availableReplicas=ready + old, readyReplicas=ready + old)
        self._new_pods = (updated, ready, outcome)

    def _pods(self) -> list[PodState]:
        pods = []
        if self._serving is not None and not self._done():
            old = self.deployment["status"]["availableReplicas"] - self._new_pods[1]
            pods += [PodState(f"{self._serving['name']}-old{i}", self._serving["revision"], True) for i in range(old)]
        current = self._current()
        if current is None:
            return pods
        updated, ready, outcome = (REPLICAS, REPLICAS, "healthy") if self._done() else self._new_pods
        waiting = {"healthy": ("ContainerCreating", ""), "stuck": ("ContainerCreating", ""), "deadline": ("ContainerCreating", ""),
                   "crash": ("CrashLoopBackOff", "back-off 40s restarting failed container=api"),
                   "image-pull": ("ImagePullBackOff", 'Back-off pulling image "' + self.deployment["spec"]["template"]["spec"]["containers"][0]["image"] + '"')}[outcome]
        for i in range(updated):
            is_ready = i < ready
            pods.append(PodState(f"{current['name']}-{i}", current["revision"], is_ready,
                                 () if is_ready else (waiting[0],), "" if is_ready else waiting[1], 3 if outcome == "crash" else 0))
        return pods
