"""The API as uvicorn runs it: pinned pods, hot swap under load, limits enforced on the wire, and a fuzzer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from retail_model.lake import LocalLake
from retail_model.registry import REJECTED, LakeModelRegistry
from tests.helpers.processes import SERVER_START_SECONDS, free_port, stop_process_group, wait_until
from tests.helpers.scoring_data import fit_pipeline, publish, save_model, train_and_held_out
from tests.helpers.training_data import request_body, train_small_model

API_KEY = "server-test-key"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("server-model"))


@pytest.fixture
def lake(tmp_path, trained) -> Path:
    lake = tmp_path / "lake"
    publish(lake, trained[0], "v1")
    return lake


@pytest.fixture
def bodies(trained) -> list[dict]:
    return [request_body(item) for item in trained[1] if item.code != "XX"]


@contextmanager
def uvicorn_server(lake: Path, log_path: Path, **environment: str) -> Iterator[str]:
    """`uvicorn retail_api.app:create_app --factory` on a free port, stopped (by its pid) on exit."""
    port = free_port()
    env = {**os.environ, "RETAIL_LAKE": str(lake), "RETAIL_API_KEY": API_KEY, **environment}
    command = [sys.executable, "-m", "uvicorn", "retail_api.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log"]  # fmt: skip
    with log_path.open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, SERVER_START_SECONDS, "the API", server)
        yield base
    finally:
        stop_process_group(server)
    assert "Application shutdown complete" in log_path.read_text(), log_path.read_text()


def test_pods_pinned_to_different_versions_serve_their_pins_whatever_the_release_says(lake, bodies, tmp_path, trained):
    """What an EKS release relies on: a pod serves the version RETAIL_MODEL_VERSION pins (its
    settings ConfigMap), loaded once, while the registry's serving pointer names a third version
    and then moves again; an unpinned process follows the pointer."""
    registry = LakeModelRegistry(LocalLake(lake))
    for version in ("v2", "v3"):
        publish(lake, trained[0], version)  # v3 is the registry's release
    headers = {"X-API-Key": API_KEY}
    with ExitStack() as pods:
        pod_a = pods.enter_context(uvicorn_server(lake, tmp_path / "a.log", RETAIL_MODEL_VERSION="v1", RETAIL_MODEL_POLL_SECONDS="0.1"))
        pod_b = pods.enter_context(uvicorn_server(lake, tmp_path / "b.log", RETAIL_MODEL_VERSION="v2", RETAIL_MODEL_POLL_SECONDS="0.1"))
        follower = pods.enter_context(uvicorn_server(lake, tmp_path / "f.log", RETAIL_MODEL_VERSION="", RETAIL_MODEL_POLL_SECONDS="0.1"))
        assert registry.released().version == "v3"
        for base, version in ((pod_a, "v1"), (pod_b, "v2"), (follower, "v3")):
            answer = httpx.post(f"{base}/v1/predict", json=bodies[0], headers=headers, timeout=10)
            assert answer.status_code == 200 and answer.json()["model_version"] == version
            info = httpx.get(f"{base}/v1/model", headers=headers, timeout=10).json()
            assert (info["version"], info["pinned"]) == (version, version != "v3")
            ready = httpx.get(f"{base}/readyz", timeout=10).json()
            assert (ready["model_version"], ready["pinned"], ready["pinned_version"]) == (version, version != "v3", None if version == "v3" else version)
        loaded_at = {base: httpx.get(f"{base}/readyz", timeout=10).json()["loaded_at"] for base in (pod_a, pod_b)}
        registry.record_release("v2")  # the pointer moves: the follower swaps, the pinned pods do not
        wait_until(lambda: httpx.get(f"{follower}/readyz", timeout=2).json()["model_version"] == "v2", 30, "the follower on v2")
        for base, version in ((pod_a, "v1"), (pod_b, "v2")):
            answers = [httpx.post(f"{base}/v1/predict", json=body, headers=headers, timeout=10) for body in bodies[:20]]
            assert {(a.status_code, a.json()["model_version"]) for a in answers} == {(200, version)}
            assert httpx.get(f"{base}/readyz", timeout=10).json()["loaded_at"] == loaded_at[base]  # loaded once, never again
        assert 'pinned="true"' in httpx.get(f"{pod_a}/metrics", timeout=10).text


def test_a_pod_pinned_to_a_rejected_version_is_not_ready_and_says_what_to_do(lake, bodies, tmp_path, trained):
    """A bad pin fails the rollout (the pod never becomes ready) instead of serving something else."""
    registry = LakeModelRegistry(LocalLake(lake))
    publish(lake, trained[0], "v2", release=False)
    registry.decide("v2", REJECTED, "misreads the new stores", "ana")
    port = free_port()
    env = {**os.environ, "RETAIL_LAKE": str(lake), "RETAIL_API_KEY": API_KEY, "RETAIL_MODEL_VERSION": "v2"}
    command = [sys.executable, "-m", "uvicorn", "retail_api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)]
    with (tmp_path / "api.log").open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, SERVER_START_SECONDS, "the API process", server)
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready" and ready.json()["pinned_version"] == "v2"
        assert "v2 (RETAIL_MODEL_VERSION) is Rejected (misreads the new stores, by ana)" in ready.json()["detail"]
        answer = httpx.post(f"{base}/v1/predict", json=bodies[0], headers={"X-API-Key": API_KEY}, timeout=10)
        assert answer.status_code == 503 and "retail-mlops models approve" in answer.json()["detail"]
    finally:
        stop_process_group(server)
    assert registry.released().version == "v1"  # the release it did not serve is untouched


def test_hot_swap_under_concurrent_load_fails_no_request(lake, bodies, tmp_path):
    """Eight clients keep posting while a new release (a tree model, compiled on load) is swapped in."""
    replacement = save_model(fit_pipeline("xgboost", train_and_held_out(n_train=600, n_test=10)[0]), tmp_path / "v2")
    seen: list[list[tuple[int, str]]] = [[] for _ in range(8)]
    errors: list[str] = []
    stop = threading.Event()

    def client(number: int, base: str) -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=10) as http:
            for request in range(5000):  # bounded: stops on `stop`, or after 5000 requests
                if stop.is_set():
                    return
                try:
                    if number == 0:
                        reply = http.post("/v1/predict/batch", json={"baskets": bodies[:25]})
                    else:
                        reply = http.post("/v1/predict", json=bodies[(number * 31 + request) % len(bodies)])
                    seen[number].append((reply.status_code, reply.json()["model_version"]))
                except Exception as error:  # noqa: BLE001 - a transport error is a failed request too
                    errors.append(f"client {number}: {type(error).__name__}: {error}")

    with uvicorn_server(lake, tmp_path / "api.log", RETAIL_MODEL_POLL_SECONDS="0.1") as base:
        threads = [threading.Thread(target=client, args=(n, base)) for n in range(8)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: sum(map(len, seen)) >= 200, 60, "traffic on v1")
            publish(lake, replacement, "v2")
            wait_until(lambda: all(s and s[-1][1] == "v2" for s in seen), 60, "every client answered by v2")
            after = sum(map(len, seen))
            wait_until(lambda: sum(map(len, seen)) >= after + 100, 60, "traffic on v2")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert errors == []
    answers = [answer for per_client in seen for answer in per_client]
    assert {status for status, _ in answers} == {200}
    for per_client in seen:  # each client saw v1, then v2, and never v1 again
        versions = [version for _, version in per_client]
        assert versions == sorted(versions) and versions[0] == "v1" and versions[-1] == "v2"
    assert "retail_api_model_swaps_total 1.0" in metrics


def _exchange(port: int, head: bytes, body_chunks: list[bytes] = ()) -> bytes:
    """Send a raw request (headers, then body chunks while the server still reads) and return the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        for chunk in body_chunks:
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed before the whole body was sent: the point
        reply = b""
        try:
            while b"\r\n\r\n" not in reply or len(reply) < reply.index(b"\r\n\r\n") + 4 + _length(reply):
                data = connection.recv(65536)
                if not data:
                    break
                reply += data
        except (ConnectionResetError, TimeoutError):
            pass
        return reply


def _length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_the_key_and_the_size_limit_are_enforced_before_the_body_is_read(lake, bodies, tmp_path):
    """No key, or a body declared (or sent) larger than the limit, is refused without reading the body."""
    body = bodies[0]
    with uvicorn_server(lake, tmp_path / "api.log", RETAIL_MAX_BODY_BYTES="65536") as base:
        port = int(base.rsplit(":", 1)[1])
        head = b"POST /v1/predict HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        # 100 MB announced, nothing sent: the answer comes at once, from the headers alone.
        reply = _exchange(port, head + b"Content-Length: 100000000\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 401 ") and b"X-API-Key" in reply
        keyed = head + f"X-API-Key: {API_KEY}\r\n".encode()
        reply = _exchange(port, keyed + b"Content-Length: 100000000\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 413 ") and b"larger than 65536 bytes" in reply
        # No length announced (chunked): refused once 64 KiB have arrived, long before the 4 MB sent.
        chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
        reply = _exchange(port, keyed + b"Transfer-Encoding: chunked\r\n\r\n", [chunk] * 256)
        assert reply.startswith(b"HTTP/1.1 413 ") and b"larger than 65536 bytes" in reply
        # And the server is fine: a proper request is answered.
        response = httpx.post(f"{base}/v1/predict", json=body, headers={"X-API-Key": API_KEY}, timeout=10)
        assert response.status_code == 200 and response.json()["model_version"] == "v1"
        assert response.headers["X-Request-ID"] == response.json()["request_id"]


def test_schemathesis_finds_nothing_in_a_thousand_generated_requests(lake, tmp_path):
    """Every schemathesis check (server errors, status codes, schemas, headers, negative and positive
    data, auth, methods) over at least 1,000 generated requests, against a real server.

    The limits are set small so generated batches stay small (the schema states them: maxItems);
    413 is what this API answers beyond a size limit, so it is an accepted way to refuse bad data.
    """
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        '[checks.negative_data_rejection]\n'
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]\n'
    )
    report = tmp_path / "report"
    environment = {"RETAIL_MAX_BATCH_BASKETS": "4", "RETAIL_MAX_BASKET_LINES": "8", "RETAIL_PREDICTION_LOG_FLUSH_SECONDS": "1"}
    with uvicorn_server(lake, tmp_path / "api.log", **environment) as base:
        run = subprocess.run(
            [str(Path(sys.executable).parent / "st"), "--config-file", str(config), "run", f"{base}/openapi.json",
             "--checks", "all", "--header", f"X-API-Key: {API_KEY}", "--max-examples", "240", "--seed", "20260101",
             "--workers", "1", "--generation-database", "none", "--no-shrink", "--no-color",
             "--report", "json", "--report-dir", str(report)],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,  # its cache folder lands there
        )  # fmt: skip
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    summary = json.loads(next(report.glob("*.json")).read_text())
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert summary["test_cases"]["generated"] >= 1000
    assert summary["test_cases"]["with_failures"] == 0 and summary["failures"] == []
    # Whatever the fuzzer sent and the API accepted, the prediction log could spool, read back and store.
    assert "retail_api_prediction_log_write_failures_total 0.0" in metrics
    assert 'retail_api_prediction_log_rows_dropped_total{reason="unreadable"} 0.0' in metrics
    assert 'retail_api_prediction_log_rows_dropped_total{reason="spool_failed"} 0.0' in metrics
