"""`KubernetesCluster` speaks the Kubernetes API as the API server expects: paths, patch content
types, raw JSON back, errors turned into ClusterError / ClusterConflict with the server's message.

No cluster runs here: a small HTTP server in this file plays the API server's REST endpoints the
release uses (it answers with canned objects shaped as a real API server returns them and records
every request), and the official `kubernetes` client talks to it over real HTTP.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from retail_assets.release.cluster import REVISION_ANNOTATION, ClusterConflict, ClusterError
from retail_assets.release.kubernetes_cluster import KubernetesCluster

DEPLOYMENTS = "/apis/apps/v1/namespaces/retail/deployments"
CONFIG_MAPS = "/api/v1/namespaces/retail/configmaps"


class ApiServer:
    """Canned answers by (method, path); every request is kept for the assertions."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, dict | str]] = {}
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append({"method": self.command, "path": url.path, "query": parse_qs(url.query),
                                        "content_type": self.headers.get("content-type"), "headers": dict(self.headers),
                                        "body": json.loads(body) if body else None})
                status, payload = server.routes.get((self.command, url.path), (404, status_body(404, "NotFound", f"{url.path} not found")))
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args) -> None:  # keep pytest's output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def last(self, method: str) -> dict:
        return [r for r in self.requests if r["method"] == method][-1]


def status_body(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code}


@pytest.fixture
def api_server():
    server = ApiServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    server.thread.join(timeout=10)


@pytest.fixture
def cluster(api_server) -> KubernetesCluster:
    configuration = client.Configuration()
    configuration.host = api_server.url
    return KubernetesCluster(client.ApiClient(configuration))


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "retail-api", "namespace": "retail", "uid": "uid-api", "generation": 4, "resourceVersion": "812",
                 "annotations": {REVISION_ANNOTATION: "3", "retail-mlops.io/model-version": "v2"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "retail-api"}},
             "template": {"metadata": {"labels": {"app.kubernetes.io/name": "retail-api"}},
                          "spec": {"containers": [{"name": "api", "image": "api@sha256:" + "b" * 64}]}}},
    "status": {"observedGeneration": 4, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
}


def replica_set(name: str, revision: str, owner_uid: str, image: str) -> dict:
    return {"metadata": {"name": name, "annotations": {REVISION_ANNOTATION: revision},
                         "ownerReferences": [{"kind": "Deployment", "name": "retail-api", "uid": owner_uid}]},
            "spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/name": "retail-api", "pod-template-hash": name[-5:]}},
                                  "spec": {"containers": [{"name": "api", "image": image}]}}}}


def test_objects_come_back_as_the_api_servers_json(api_server, cluster):
    api_server.routes[("GET", f"{DEPLOYMENTS}/retail-api")] = (200, DEPLOYMENT)
    api_server.routes[("GET", "/api/v1/namespaces/retail/secrets/retail-api-key")] = (
        200, {"kind": "Secret", "metadata": {"name": "retail-api-key"}, "data": {"api-key": base64.b64encode(b"s3cret").decode()}})
    assert cluster.read_deployment("retail", "retail-api") == DEPLOYMENT
    assert cluster.read_secret_value("retail", "retail-api-key", "api-key") == "s3cret"
    with pytest.raises(ClusterError, match="Secret retail/retail-api-key has no key 'token'"):
        cluster.read_secret_value("retail", "retail-api-key", "token")
    with pytest.raises(ClusterError, match="read ConfigMap retail/missing: HTTP 404 Not Found: /api/v1/namespaces/retail/configmaps/missing not found"):
        cluster.read_config_map("retail", "missing")


def test_the_deployment_patch_is_a_strategic_merge_and_a_conflict_is_its_own_error(api_server, cluster):
    patch = {"metadata": {"resourceVersion": "812", "annotations": {"retail-mlops.io/model-version": "v3"}},
             "spec": {"template": {"spec": {"containers": [{"name": "api", "envFrom": [{"configMapRef": {"name": "settings-x"}}]}]}}}}
    api_server.routes[("PATCH", f"{DEPLOYMENTS}/retail-api")] = (200, DEPLOYMENT)
    cluster.patch_deployment("retail", "retail-api", patch)
    sent = api_server.last("PATCH")
    assert sent["content_type"] == "application/strategic-merge-patch+json" and sent["body"] == patch

    message = 'Operation cannot be fulfilled on deployments.apps "retail-api": the object has been modified'
    api_server.routes[("PATCH", f"{DEPLOYMENTS}/retail-api")] = (409, status_body(409, "Conflict", message))
    with pytest.raises(ClusterConflict, match="patch Deployment retail/retail-api: HTTP 409 Conflict: Operation cannot be fulfilled"):
        cluster.patch_deployment("retail", "retail-api", patch)


def test_a_config_map_that_exists_already_is_fine_but_a_forbidden_one_is_not(api_server, cluster):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "retail-api-settings-abc"}, "data": {"A": "1"}}
    api_server.routes[("POST", CONFIG_MAPS)] = (409, status_body(409, "AlreadyExists", 'configmaps "retail-api-settings-abc" already exists'))
    cluster.create_config_map("retail", body)
    assert api_server.last("POST")["body"] == body
    api_server.routes[("POST", CONFIG_MAPS)] = (403, status_body(403, "Forbidden", 'User "system:serviceaccount:dagster:dagster" cannot create'))
    with pytest.raises(ClusterError, match="create ConfigMap retail/retail-api-settings-abc: HTTP 403 Forbidden: User .* cannot create"):
        cluster.create_config_map("retail", body)


def test_pods_carry_the_revision_of_their_replica_set_and_why_they_wait(api_server, cluster):
    api_server.routes[("GET", "/apis/apps/v1/namespaces/retail/replicasets")] = (200, {"items": [
        replica_set("retail-api-aaaaa", "3", "uid-api", "new"), replica_set("retail-api-bbbbb", "2", "uid-api", "old"),
        replica_set("other-ccccc", "3", "uid-other", "other"),
    ]})
    api_server.routes[("GET", "/api/v1/namespaces/retail/pods")] = (200, {"items": [
        {"metadata": {"name": "retail-api-aaaaa-1", "ownerReferences": [{"kind": "ReplicaSet", "name": "retail-api-aaaaa"}]},
         "status": {"conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [{"name": "api", "restartCount": 4, "state": {"waiting": {
                        "reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=api"}}}]}},
        {"metadata": {"name": "retail-api-bbbbb-1", "ownerReferences": [{"kind": "ReplicaSet", "name": "retail-api-bbbbb"}]},
         "status": {"conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "api", "restartCount": 0, "state": {"running": {}}}]}},
    ]})
    new, old = cluster.pods("retail", DEPLOYMENT)
    assert (new.revision, new.ready, new.waiting_reasons, new.restarts) == ("3", False, ("CrashLoopBackOff",), 4)
    assert new.message == "back-off 1m20s restarting failed container=api"
    assert (old.revision, old.ready, old.waiting_reasons) == ("2", True, ())
    assert api_server.last("GET")["query"] == {"labelSelector": ["app.kubernetes.io/name=retail-api"]}


def test_rollback_puts_the_revisions_pod_template_back_like_kubectl_rollout_undo(api_server, cluster):
    api_server.routes[("GET", f"{DEPLOYMENTS}/retail-api")] = (200, DEPLOYMENT)
    api_server.routes[("GET", "/apis/apps/v1/namespaces/retail/replicasets")] = (200, {"items": [
        replica_set("other-ccccc", "2", "uid-other", "someone-elses"), replica_set("retail-api-bbbbb", "2", "uid-api", "old@sha256:1"),
    ]})
    api_server.routes[("PATCH", f"{DEPLOYMENTS}/retail-api")] = (200, DEPLOYMENT)
    cluster.rollback("retail", "retail-api", "2", {"retail-mlops.io/model-version": "v1"})
    sent = api_server.last("PATCH")
    assert sent["content_type"] == "application/json-patch+json"
    assert sent["body"] == [
        {"op": "replace", "path": "/spec/template", "value": {"metadata": {"labels": {"app.kubernetes.io/name": "retail-api"}},
                                                            "spec": {"containers": [{"name": "api", "image": "old@sha256:1"}]}}},
        {"op": "add", "path": "/metadata/annotations/retail-mlops.io~1model-version", "value": "v1"},
    ]
    with pytest.raises(ClusterError, match="has no ReplicaSet of revision 1 left"):
        cluster.rollback("retail", "retail-api", "1", {})


def test_the_smoke_call_goes_over_http_and_an_unreachable_service_is_a_cluster_error(api_server, cluster):
    api_server.routes[("POST", "/v1/predict/batch")] = (200, {"model_version": "v3"})
    answer = cluster.post(f"{api_server.url}/v1/predict/batch", b'{"baskets": []}', {"X-API-Key": "k", "content-type": "application/json"}, 5)
    assert (answer.status, json.loads(answer.body)) == (200, {"model_version": "v3"})
    assert api_server.last("POST")["headers"]["X-API-Key"] == "k"
    api_server.httpd.server_close()
    with pytest.raises(ClusterError, match="POST http://127.0.0.1:1/v1/predict/batch"):
        cluster.post("http://127.0.0.1:1/v1/predict/batch", b"{}", {}, 2)


def test_without_credentials_the_first_call_says_how_to_get_them(tmp_path, monkeypatch):
    """Building the target never needs a cluster; the first call does, and says what to set."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    cluster = KubernetesCluster()
    with pytest.raises(ClusterError, match="no Kubernetes credentials .* set KUBECONFIG"):
        cluster.read_deployment("retail", "retail-api")
