"""The Kubernetes API subset the release uses, over HTTP, so `KubernetesCluster` itself is exercised.

Served paths (those of the official client's calls in `release/kubernetes_cluster.py`, plus the
creates an apply makes):

    GET    /apis/apps/v1/namespaces/NS/deployments/NAME     PATCH the same (3 patch types)
    GET    /apis/apps/v1/namespaces/NS/replicasets?labelSelector=...
    GET    /api/v1/namespaces/NS/pods?labelSelector=...
    GET    /api/v1/namespaces/NS/configmaps/NAME            POST /api/v1/namespaces/NS/configmaps
    GET    /api/v1/namespaces/NS/secrets/NAME               POST /api/v1/namespaces/NS/secrets

Anything else is a 404 with a Kubernetes `Status`, as the API server answers an unknown path.
Authentication is not checked (any bearer token is taken).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from retail_assets.release.local_cluster.objects import ApiError, Store

_PATH = re.compile(r"^/(?:api/v1|apis/apps/v1)/namespaces/(?P<ns>[^/]+)/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?$")
_KINDS = {"deployments": "Deployment", "replicasets": "ReplicaSet", "pods": "Pod", "configmaps": "ConfigMap", "secrets": "Secret"}
_CORE = {"pods", "configmaps", "secrets"}
_LIST_KIND = {"Deployment": "DeploymentList", "ReplicaSet": "ReplicaSetList", "Pod": "PodList", "ConfigMap": "ConfigMapList",
              "Secret": "SecretList"}


class KubernetesApiServer:
    """A ThreadingHTTPServer on 127.0.0.1 answering the subset above from `store`; `changed` is called after a write."""

    def __init__(self, store: Store, changed: Callable[[], None]) -> None:
        handler = type("Handler", (_Handler,), {"store": store, "changed": staticmethod(changed)})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kubernetes api", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    store: Store
    changed: Callable[[], None]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # the tests read objects, not an access log

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self._post)

    def do_PATCH(self) -> None:  # noqa: N802
        self._answer(self._patch)

    def _answer(self, action: Callable[[str, str, str | None, dict], tuple[int, dict]]) -> None:
        url = urlsplit(self.path)
        match = _PATH.match(url.path)
        try:
            core = url.path.startswith("/api/v1/")
            if match is None or match["plural"] not in _KINDS or (match["plural"] in _CORE) != core:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            code, body = action(_KINDS[match["plural"]], match["ns"], match["name"], parse_qs(url.query))
        except ApiError as error:
            code, body = error.code, error.status()
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> object:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError as error:
            raise ApiError(400, "BadRequest", f"the request body is not JSON: {error}") from error

    def _get(self, kind: str, namespace: str, name: str | None, query: dict) -> tuple[int, dict]:
        with self.store.lock:
            if name is not None:
                return 200, json.loads(json.dumps(self.store.get(kind, namespace, name)))
            items = self.store.list(kind, namespace, (query.get("labelSelector") or [""])[0])
            return 200, json.loads(json.dumps({"kind": _LIST_KIND[kind], "apiVersion": "v1", "metadata": {}, "items": items}))

    def _post(self, kind: str, namespace: str, name: str | None, query: dict) -> tuple[int, dict]:
        body = self._body()
        if name is not None or kind not in ("ConfigMap", "Secret") or not isinstance(body, dict):
            raise ApiError(405, "MethodNotAllowed", f"creating a {kind} here is not supported by the local cluster")
        body.setdefault("metadata", {})["namespace"] = namespace
        body["kind"] = kind
        with self.store.lock:
            created = json.loads(json.dumps(self.store.create(body)))
        self.changed()
        return 201, created

    def _patch(self, kind: str, namespace: str, name: str | None, query: dict) -> tuple[int, dict]:
        if name is None or kind != "Deployment":
            raise ApiError(405, "MethodNotAllowed", f"patching a {kind} is not supported by the local cluster")
        body = self._body()
        with self.store.lock:
            patched = json.loads(json.dumps(self.store.patch(kind, namespace, name, self.headers.get("Content-Type", ""), body)))
        self.changed()
        return 200, patched
