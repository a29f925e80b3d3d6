"""A Service of the local cluster: a round-robin HTTP proxy on 127.0.0.1 over the ready pods it selects.

Like a ClusterIP Service's endpoints, only pods that are Ready and not terminating receive
requests, so a pod that is starting, failing its readiness probe or shutting down gets none. With
no ready pod the proxy answers 503 (a real ClusterIP refuses the connection instead).
"""

from __future__ import annotations

import http.client
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from retail_assets.release.local_cluster.objects import Store, matches

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"}


class ServiceProxy:
    def __init__(self, store: Store, service: dict) -> None:
        self.store, self.service = store, service
        self._turn = itertools.count()
        handler = type("Handler", (_Proxy,), {"proxy": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"service {service['metadata']['name']}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)

    def endpoints(self) -> list[tuple[str, int]]:
        """(pod name, local port) of every ready, non-terminating pod the Service selects."""
        selector = ",".join(f"{k}={v}" for k, v in (self.service["spec"].get("selector") or {}).items())
        with self.store.lock:
            pods = self.store.list("Pod", self.service["metadata"]["namespace"], selector)
            return sorted((p["metadata"]["name"], int(p["metadata"]["annotations"]["local-cluster/port"])) for p in pods
                          if "deletionTimestamp" not in p["metadata"] and matches(p["metadata"].get("labels") or {}, selector)
                          and any(c.get("type") == "Ready" and c.get("status") == "True" for c in p.get("status", {}).get("conditions", [])))

    def pick(self) -> tuple[str, int] | None:
        endpoints = self.endpoints()
        return endpoints[next(self._turn) % len(endpoints)] if endpoints else None


class _Proxy(BaseHTTPRequestHandler):
    proxy: ServiceProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._forward()

    def do_POST(self) -> None:  # noqa: N802
        self._forward()

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        endpoint = self.proxy.pick()
        if endpoint is None:
            name = self.proxy.service["metadata"]["name"]
            return self._send(503, [("Content-Type", "text/plain")], f"no ready endpoints for Service {name}".encode())
        connection = http.client.HTTPConnection("127.0.0.1", endpoint[1], timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            self._send(answer.status, [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP | {"content-length"}], payload)
        except OSError as error:
            self._send(502, [("Content-Type", "text/plain")], f"pod {endpoint[0]} did not answer: {error}".encode())
        finally:
            connection.close()

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
