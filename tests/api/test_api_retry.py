"""A hot swap that fails once is retried, with backoff, until it succeeds; /metrics counts each failure.

Issue 15, defect 5: one failed load left the API on the old model until the registry changed again.
"""

from __future__ import annotations

import re
import shutil
import threading
import warnings
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from tests.helpers.scoring_data import publish, wait_for
from tests.helpers.training_data import request_body, train_small_model

from retail_api.app import create_app
from retail_api.settings import Settings
from retail_model import FEATURE_VERSION
from retail_model.lake import LocalLake, S3Lake
from retail_model.registry import APPROVED, LakeModelRegistry
from retail_model.settings import AwsSettings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("retry-model"))


@pytest.fixture
def body(trained) -> dict:
    return request_body(next(item for item in trained[1] if item.code != "XX"))


def load_failures(client: TestClient) -> float:
    return float(re.search(r"^retail_api_model_load_failures_total (\S+)$", client.get("/metrics").text, re.M)[1])


def test_a_release_whose_artefact_arrives_late_is_served_once_it_is_there(tmp_path, trained, body):
    """The release is recorded while its artefact is still being copied: the first loads fail
    (no model.joblib yet), the API keeps serving v1, and serves v2 as soon as the copy is complete,
    with no further change in the registry."""
    lake = tmp_path / "lake"
    publish(lake, trained[0], "v1")
    registry = LakeModelRegistry(LocalLake(lake))
    settings = Settings(lake=str(lake), model_poll_seconds=0.05, model_retry_max_seconds=0.2, prediction_log=False)
    with TestClient(create_app(settings)) as client:
        registry.register("v2", str(lake / "models" / "v2"), FEATURE_VERSION, {}, APPROVED)
        registry.record_release("v2")
        ready = wait_for(lambda: (r := client.get("/readyz").json())["detail"] and r)
        assert ready["model_version"] == "v1" and "model version v2 could not be loaded" in ready["detail"]
        assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"
        wait_for(lambda: load_failures(client) >= 2)  # retried, and each failure counted
        shutil.copytree(trained[0], lake / "models" / "v2")
        wait_for(lambda: client.get("/readyz").json()["model_version"] == "v2")
        assert client.get("/readyz").json()["detail"] is None
        assert client.post("/v1/predict", json=body).json()["model_version"] == "v2"
        settled = load_failures(client)
        wait_for(lambda: True, timeout=0.5)
        assert load_failures(client) == settled  # serving: no more attempts, no more failures


class _FlakyS3(ThreadingHTTPServer):
    """A pass-through to moto's S3 that answers 503 SlowDown for keys under `failing`, while set.

    It plays the network between the API and S3 during an outage: moto cannot be told to fail
    some requests. Everything else (S3, the registry, the API) is real.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream
        self.failing: str | None = None
        self.refused = 0

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        server: _FlakyS3 = self.server
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        if server.failing and server.failing in unquote(self.path):
            server.refused += 1
            self._answer(503, {}, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
            return
        skip = {"host", "connection", "content-length", "transfer-encoding"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        request = urllib.request.Request(server.upstream + self.path, data=data, method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, reply_headers, payload = reply.status, reply.headers, reply.read()
        except urllib.error.HTTPError as error:
            status, reply_headers, payload = error.code, error.headers, error.read()
        self._answer(status, {k: v for k, v in reply_headers.items() if k.lower() not in skip}, payload)

    def _answer(self, status: int, headers: dict, payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

    def log_message(self, *args) -> None:  # quiet: one line per request otherwise
        pass


@contextmanager
def flaky_s3(upstream: str) -> Iterator[_FlakyS3]:
    server = _FlakyS3(upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_transient_s3_error_during_a_hot_swap_is_retried_and_counted(aws, trained, body, monkeypatch):
    """S3 refuses the new artefact's requests for a while (503 SlowDown; boto3's own retries are
    off, AWS_MAX_ATTEMPTS=1, so one refusal is the whole outage). The error is botocore's, not a
    ModelLoadError: the API keeps serving v1, counts each failed attempt, and swaps to v2 once S3
    answers again, though nothing changed in the registry."""
    lake_uri = f"s3://{aws.bucket}/lake"
    lake = S3Lake(lake_uri, aws.settings())
    registry = LakeModelRegistry(lake)
    for version in ("v1", "v2"):
        lake.upload_directory(Path(trained[0]), f"models/{version}")
        registry.register(version, lake.uri_of(f"models/{version}"), FEATURE_VERSION, {}, APPROVED)
    registry.record_release("v1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with flaky_s3(aws.endpoint_url) as network:
        settings = Settings(lake=lake_uri, registry="local", aws=AwsSettings(endpoint_url=network.url, region=aws.region),
                            model_poll_seconds=0.05, model_retry_max_seconds=0.2, prediction_log=False)
        with TestClient(create_app(settings)) as client:
            assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"
            network.failing = "lake/models/v2"
            registry.record_release("v2")
            ready = wait_for(lambda: (r := client.get("/readyz").json())["detail"] and r)
            assert ready["model_version"] == "v1" and "model version v2 could not be loaded" in ready["detail"]
            assert "SlowDown" in ready["detail"] or "503" in ready["detail"]
            wait_for(lambda: load_failures(client) >= 2)
            assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"
            network.failing = None  # S3 is back
            wait_for(lambda: client.get("/readyz").json()["model_version"] == "v2", timeout=20)
            assert client.post("/v1/predict", json=body).json()["model_version"] == "v2"
            assert network.refused >= 2 and load_failures(client) >= 2
