"""`KubernetesCluster`: the `Cluster` calls over the official `kubernetes` client (brought by dagster-k8s).

Credentials: in a pod, its service account (the Dagster run pods' `dagster` account, which a
RoleBinding made by Terraform lets edit the `retail` namespace); elsewhere the kubeconfig
(`KUBECONFIG`, `~/.kube/config`). They are loaded on the first call, not when the definitions load.
Responses are read as raw JSON (`_preload_content=False`), so objects are the API's own dicts.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from retail_assets.release.cluster import REVISION_ANNOTATION, Cluster, ClusterConflict, ClusterError, PodState, ServiceAnswer

_STRATEGIC_MERGE = "application/strategic-merge-patch+json"
_JSON_PATCH = "application/json-patch+json"


class KubernetesCluster(Cluster):
    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self._api_client = api_client
        self._http = urllib3.PoolManager()

    def read_deployment(self, namespace: str, name: str) -> dict:
        return self._call(f"read Deployment {namespace}/{name}", self._apps().read_namespaced_deployment, name, namespace)

    def read_config_map(self, namespace: str, name: str) -> dict:
        return self._call(f"read ConfigMap {namespace}/{name}", self._core().read_namespaced_config_map, name, namespace)

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        secret = self._call(f"read Secret {namespace}/{name}", self._core().read_namespaced_secret, name, namespace)
        if key not in (secret.get("data") or {}):
            raise ClusterError(f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(secret["data"][key]).decode()

    def create_config_map(self, namespace: str, body: dict) -> None:
        name = body["metadata"]["name"]
        try:
            self._call(f"create ConfigMap {namespace}/{name}", self._core().create_namespaced_config_map, namespace, body)
        except ClusterConflict:
            pass  # same name, same content: its name is a hash of the data

    def patch_deployment(self, namespace: str, name: str, patch: dict) -> dict:
        return self._call(f"patch Deployment {namespace}/{name}", self._apps().patch_namespaced_deployment, name, namespace, patch,
                          _content_type=_STRATEGIC_MERGE)

    def pods(self, namespace: str, deployment: dict) -> list[PodState]:
        revision_of = {rs["metadata"]["name"]: (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
                       for rs in self._owned_replica_sets(namespace, deployment)}
        pods = self._call(f"list pods in {namespace}", self._core().list_namespaced_pod, namespace, label_selector=_selector(deployment))
        return [_pod_state(pod, revision_of) for pod in pods["items"]]

    def rollback(self, namespace: str, name: str, revision: str, annotations: dict[str, str]) -> None:
        # What `kubectl rollout undo --to-revision` does (the API has no rollback call since apps/v1):
        # copy that ReplicaSet's pod template back into the Deployment.
        deployment = self.read_deployment(namespace, name)
        replica_sets = [
            rs for rs in self._owned_replica_sets(namespace, deployment)
            if (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION) == revision
        ]
        if not replica_sets:
            raise ClusterError(f"Deployment {namespace}/{name} has no ReplicaSet of revision {revision} left (revisionHistoryLimit)")
        template = replica_sets[0]["spec"]["template"]
        template["metadata"].get("labels", {}).pop("pod-template-hash", None)
        patch: list[dict[str, Any]] = [{"op": "replace", "path": "/spec/template", "value": template}]
        patch += [{"op": "add", "path": f"/metadata/annotations/{_pointer(key)}", "value": value} for key, value in annotations.items()]
        self._call(f"roll back Deployment {namespace}/{name} to revision {revision}", self._apps().patch_namespaced_deployment,
                   name, namespace, patch, _content_type=_JSON_PATCH)

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout_seconds: float) -> ServiceAnswer:
        try:
            response = self._http.request("POST", url, body=body, headers=headers, timeout=urllib3.Timeout(total=timeout_seconds), retries=False)
        except urllib3.exceptions.HTTPError as error:
            raise ClusterError(f"POST {url}: {error}") from error
        return ServiceAnswer(response.status, response.data)

    def _owned_replica_sets(self, namespace: str, deployment: dict) -> list[dict]:
        listed = self._call(f"list ReplicaSets in {namespace}", self._apps().list_namespaced_replica_set, namespace,
                            label_selector=_selector(deployment))
        uid = deployment["metadata"]["uid"]
        return [rs for rs in listed["items"] if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences", []))]

    def _apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self._client())

    def _core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self._client())

    def _client(self) -> client.ApiClient:
        if self._api_client is None:
            configuration = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                try:
                    config.load_kube_config(client_configuration=configuration)
                except (config.ConfigException, OSError) as error:
                    raise ClusterError(
                        f"no Kubernetes credentials ({error}): run in a pod with a service account, or set KUBECONFIG "
                        "(`aws eks update-kubeconfig --name retail-mlops-prod`)"
                    ) from error
            self._api_client = client.ApiClient(configuration)
        return self._api_client

    @staticmethod
    def _call(action: str, method, *args, **kwargs) -> dict:
        try:
            response = method(*args, _preload_content=False, **kwargs)
        except ApiException as error:
            message = _api_message(error)
            kind = ClusterConflict if error.status == 409 else ClusterError
            raise kind(f"{action}: HTTP {error.status} {error.reason}{f': {message}' if message else ''}") from error
        except urllib3.exceptions.HTTPError as error:
            raise ClusterError(f"{action}: the Kubernetes API did not answer ({error})") from error
        return json.loads(response.data)


def _pod_state(pod: dict, revision_of: dict[str, str | None]) -> PodState:
    owners = [o["name"] for o in pod["metadata"].get("ownerReferences", []) if o.get("kind") == "ReplicaSet"]
    status = pod.get("status", {})
    containers = status.get("initContainerStatuses", []) + status.get("containerStatuses", [])
    waiting = [c["state"]["waiting"] for c in containers if (c.get("state") or {}).get("waiting")]
    return PodState(
        name=pod["metadata"]["name"],
        revision=revision_of.get(owners[0]) if owners else None,
        ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])),
        waiting_reasons=tuple(w.get("reason", "") for w in waiting),
        message=next((w.get("message", "") for w in waiting if w.get("message")), ""),
        restarts=sum(c.get("restartCount", 0) for c in containers),
    )


def _selector(deployment: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"].get("matchLabels", {}).items())


def _pointer(key: str) -> str:
    """A JSON Pointer segment (RFC 6901): annotation keys hold '/'."""
    return key.replace("~", "~0").replace("/", "~1")


def _api_message(error: ApiException) -> str:
    try:
        return json.loads(error.body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        return str(error.body or "")[:300]
