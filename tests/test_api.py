"""The FastAPI service against a real lake: registry, released model, hot swap, one real server."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from _training_data import request_body, train_small_model

from retail_api.app import create_app
from retail_api.settings import Settings
from retail_model import FEATURE_VERSION
from retail_model.lake import LocalLake
from retail_model.registry import APPROVED, LakeModelRegistry

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("api-model"))


@pytest.fixture
def test_baskets(trained):
    return [item for item in trained[1] if item.code != "XX"]


def publish(lake: Path, model_dir: Path, version: str, release: bool = True) -> None:
    """What registered_model + api_release do: copy into models/<v>, register Approved, release."""
    shutil.copytree(model_dir, lake / "models" / version)
    registry = LakeModelRegistry(LocalLake(lake))
    registry.register(version, model_uri=str(lake / "models" / version), feature_version=FEATURE_VERSION, metrics={}, status=APPROVED)
    if release:
        registry.record_release(version)


@pytest.fixture
def lake(tmp_path, trained) -> Path:
    lake = tmp_path / "lake"
    publish(lake, trained[0], "v1")
    return lake


@pytest.fixture
def client(lake):
    with TestClient(create_app(Settings(lake=str(lake), model_poll_seconds=0.05))) as client:
        yield client


@pytest.fixture
def body(test_baskets) -> dict:
    return request_body(test_baskets[0])


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() | {"loaded_at": None} == {
        "status": "ready",
        "model_version": "v1",
        "candidate": "logistic_regression",
        "feature_version": FEATURE_VERSION,
        "loaded_at": None,
        "detail": None,
    }


def test_predict_answers_class_code_probabilities_version_and_request_id(client, body, test_baskets):
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"basket_id", "price_sensitivity", "code", "probabilities", "model_version", "request_id"}
    assert answer["basket_id"] == body["basket_id"]
    assert answer["model_version"] == "v1"
    assert {"LA": "High", "MM": "Medium", "UM": "Low"}[answer["code"]] == answer["price_sensitivity"]
    assert set(answer["probabilities"]) == {"High", "Medium", "Low"}
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert str(uuid.UUID(answer["request_id"])) == answer["request_id"] == response.headers["X-Request-ID"]


def test_incoming_request_id_is_echoed_and_unsafe_ones_replaced(client, body):
    response = client.post("/v1/predict", json=body, headers={"X-Request-ID": "checkout-42"})
    assert response.json()["request_id"] == response.headers["X-Request-ID"] == "checkout-42"
    response = client.post("/v1/predict", json=body, headers={"X-Request-ID": "x" * 500})
    assert uuid.UUID(response.headers["X-Request-ID"])


def test_predictions_match_the_model_and_beat_chance(client, test_baskets):
    response = client.post("/v1/predict/batch", json={"baskets": [request_body(item) for item in test_baskets[:300]]})
    assert response.status_code == 200
    answer = response.json()
    assert answer["model_version"] == "v1" and uuid.UUID(answer["request_id"])
    predictions = answer["predictions"]
    assert [p["basket_id"] for p in predictions] == [item.basket_id for item in test_baskets[:300]]
    accuracy = sum(p["code"] == item.code for p, item in zip(predictions, test_baskets, strict=False)) / len(predictions)
    assert accuracy > 0.7


def test_anonymous_basket_and_unknown_products_are_fine(client, body):
    anonymous = {key: value for key, value in body.items() if key != "customer"}
    anonymous["lines"] = [{"prod_code": "PRD_NEVER_SEEN", "quantity": 2, "spend": 1.5}]
    response = client.post("/v1/predict", json=anonymous)
    assert response.status_code == 200
    assert sum(response.json()["probabilities"].values()) == pytest.approx(1.0)


def _without(body: dict, key: str) -> dict:
    return {k: v for k, v in body.items() if k != key}


BAD_BODIES = {
    "missing lines": lambda b: _without(b, "lines"),
    "no lines": lambda b: b | {"lines": []},
    "too many lines": lambda b: b | {"lines": b["lines"][:1] * 501},
    "bad store_format": lambda b: b | {"store_format": "XXL"},
    "shop_hour 25": lambda b: b | {"shop_hour": 25},
    "shop_hour text": lambda b: b | {"shop_hour": "evening"},
    "bad date": lambda b: b | {"shop_date": "15/04/2008"},
    "bad region": lambda b: b | {"store_region": "east"},
    "unicode digits in region": lambda b: b | {"store_region": "E\u0660\u0662"},
    "lines not a list": lambda b: b | {"lines": "PRD0900033"},
    "quantity zero": lambda b: b | {"lines": [b["lines"][0] | {"quantity": 0}]},
    "fractional quantity": lambda b: b | {"lines": [b["lines"][0] | {"quantity": 1.5}]},
    "negative spend": lambda b: b | {"lines": [b["lines"][0] | {"spend": -1}]},
    "empty prod_code": lambda b: b | {"lines": [b["lines"][0] | {"prod_code": " "}]},
    "bad customer segment": lambda b: b | {"customer": {"code": "C1", "price_sensitivity": "HIGH"}},
    "misspelt field": lambda b: _without(b, "customer") | {"cusomter": {"code": "C1"}},
    "not an object": lambda b: [b],
}


@pytest.mark.parametrize("make_bad", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_malformed_baskets_are_422(client, body, make_bad):
    response = client.post("/v1/predict", json=make_bad(body))
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize("content", [b"", b"{not json", b"NaN", b'{"basket_id": 1'])
def test_empty_or_non_json_body_is_422(client, content):
    response = client.post("/v1/predict", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def test_nan_spend_is_422(client, body):
    raw = json.dumps(body | {"lines": [body["lines"][0] | {"spend": float("nan")}]})
    response = client.post("/v1/predict", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "lines", 0, "spend"]


def test_batch_limits_are_422(client, body):
    assert client.post("/v1/predict/batch", json={"baskets": []}).status_code == 422
    assert client.post("/v1/predict/batch", json={"baskets": [body] * 1001}).status_code == 422
    assert client.post("/v1/predict/batch", json={"baskets": [body | {"shop_hour": -1}]}).status_code == 422


def test_without_a_model_predict_is_503_and_not_ready(tmp_path, body):
    with TestClient(create_app(Settings(lake=str(tmp_path / "empty-lake")))) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready" and "no released or Approved model" in ready.json()["detail"]
        response = client.post("/v1/predict", json=body)
        assert response.status_code == 503
        assert "no model is loaded" in response.json()["detail"]
        assert client.post("/v1/predict/batch", json={"baskets": [body]}).status_code == 503


def test_api_key_is_enforced_when_configured(lake, body):
    settings = Settings(lake=str(lake), api_key="s3cret")
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict", json=body).status_code == 401
        assert client.post("/v1/predict", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.post("/v1/predict/batch", json={"baskets": [body]}).status_code == 401
        assert client.post("/v1/predict", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        # Probes stay open for the orchestrator, which holds no key.
        assert client.get("/readyz").status_code == 200


def test_settings_come_from_the_environment_when_the_app_is_created(lake, monkeypatch):
    monkeypatch.setenv("RETAIL_LAKE", str(lake))
    monkeypatch.setenv("RETAIL_API_KEY", "k")
    monkeypatch.setenv("RETAIL_MODEL_POLL_SECONDS", "0.5")
    settings = Settings()
    assert (settings.lake, settings.api_key.get_secret_value(), settings.model_poll_seconds) == (str(lake.resolve()), "k", 0.5)
    monkeypatch.setenv("RETAIL_API_KEY", "")
    assert Settings().api_key is None


def test_a_new_release_is_hot_swapped_without_failed_requests(client, lake, trained, body):
    assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"
    with ThreadPoolExecutor(max_workers=4) as pool:
        during = [pool.submit(client.post, "/v1/predict", json=body) for _ in range(100)]
        publish(lake, trained[0], "v2")
        wait_for(lambda: client.get("/readyz").json()["model_version"] == "v2")
        responses = [future.result() for future in during]
    assert [r.status_code for r in responses] == [200] * len(responses)
    assert {r.json()["model_version"] for r in responses} <= {"v1", "v2"}
    assert client.post("/v1/predict", json=body).json()["model_version"] == "v2"


def test_a_release_that_fails_to_load_keeps_the_current_model(client, lake, body, caplog):
    (lake / "models" / "v3").mkdir(parents=True)
    (lake / "models" / "v3" / "model.joblib").write_bytes(b"garbage")
    registry = LakeModelRegistry(LocalLake(lake))
    registry.register("v3", model_uri=str(lake / "models" / "v3"), feature_version=FEATURE_VERSION, metrics={}, status=APPROVED)
    with caplog.at_level(logging.ERROR, logger="retail_api.model_store"):
        registry.record_release("v3")
        ready = wait_for(lambda: (r := client.get("/readyz").json())["detail"] and r)
    assert ready["status"] == "ready" and ready["model_version"] == "v1"
    assert "model version v3 could not be loaded" in ready["detail"]
    assert "v1 keeps serving" in caplog.text
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 200 and response.json()["model_version"] == "v1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_real_server_serves_the_released_model(lake, body):
    port = _free_port()
    env = {**os.environ, "RETAIL_LAKE": str(lake), "RETAIL_API_KEY": "smoke"}
    command = [sys.executable, "-m", "uvicorn", "retail_api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"

        def ready():
            assert server.poll() is None, server.stdout.read().decode()
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout=60)
        response = httpx.post(f"{base}/v1/predict", json=body, headers={"X-API-Key": "smoke"}, timeout=10)
        assert response.status_code == 200
        assert response.json()["model_version"] == "v1"
        assert response.headers["X-Request-ID"] == response.json()["request_id"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # its own session: the group is the server and its children
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)
        log = server.stdout.read().decode()
        server.stdout.close()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it (exit status -15).
    assert server.returncode in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log


def test_the_api_imports_no_dagster():
    probe = "import sys, retail_api.app; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'retail_assets')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
