"""The API in-process against a real lake: answers, refusals, limits, the key, hot swap, /v1/model."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.helpers.scoring_data import fit_pipeline, publish, save_model, wait_for
from tests.helpers.training_data import request_body, train_small_model

from retail_api.app import create_app
from retail_api.settings import Settings
from retail_model import FEATURE_VERSION, basket_features
from retail_model.artifact import PriceSensitivityModel
from retail_model.lake import LocalLake
from retail_model.registry import APPROVED, LakeModelRegistry
from retail_model.settings import ConfigurationError

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("api-model"))


@pytest.fixture
def test_baskets(trained):
    return [item for item in trained[1] if item.code != "XX"]


@pytest.fixture
def lake(tmp_path, trained) -> Path:
    lake = tmp_path / "lake"
    publish(lake, trained[0], "v1")
    return lake


@pytest.fixture
def client(lake):
    with TestClient(create_app(Settings(lake=str(lake), model_poll_seconds=0.05, prediction_log=False))) as client:
        yield client


@pytest.fixture
def body(test_baskets) -> dict:
    return request_body(test_baskets[0])


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
        "pinned": False,  # no RETAIL_MODEL_VERSION: the API follows the registry's release
        "pinned_version": None,
        "detail": None,
    }


def test_predict_answers_class_code_probabilities_version_and_request_id(client, body):
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"basket_id", "price_sensitivity", "code", "probabilities", "model_version", "request_id"}
    assert answer["basket_id"] == body["basket_id"]
    assert answer["model_version"] == "v1"
    assert {"LA": "High", "MM": "Medium", "UM": "Low"}[answer["code"]] == answer["price_sensitivity"]
    assert list(answer["probabilities"]) == ["High", "Medium", "Low"]
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert str(uuid.UUID(answer["request_id"])) == answer["request_id"] == response.headers["X-Request-ID"]


def test_incoming_request_id_is_echoed_and_unsafe_ones_replaced(client, body):
    response = client.post("/v1/predict", json=body, headers={"X-Request-ID": "checkout-42"})
    assert response.json()["request_id"] == response.headers["X-Request-ID"] == "checkout-42"
    response = client.post("/v1/predict", json=body, headers={"X-Request-ID": "x" * 500})
    assert uuid.UUID(response.headers["X-Request-ID"])
    assert client.get("/healthz", headers={"X-Request-ID": "probe-1"}).headers["X-Request-ID"] == "probe-1"
    made = [client.get("/healthz").headers["X-Request-ID"] for _ in range(50)]
    assert len(set(made)) == 50 and all(str(uuid.UUID(made_id)) == made_id for made_id in made)


def test_served_answers_are_the_models_answers(client, lake, test_baskets):
    """Classes and probabilities (within 1e-6) equal the trained pipeline's, single and batch."""
    model = PriceSensitivityModel.load(lake / "models" / "v1")
    baskets = test_baskets[:200]
    expected = model.predict([item.basket for item in baskets])
    batch = client.post("/v1/predict/batch", json={"baskets": [request_body(item) for item in baskets]}).json()
    assert batch["model_version"] == "v1" and uuid.UUID(batch["request_id"])
    assert [p["basket_id"] for p in batch["predictions"]] == [item.basket_id for item in baskets]
    singles = [client.post("/v1/predict", json=request_body(item)).json() for item in baskets[:20]]
    for served, truth in [*zip(batch["predictions"], expected, strict=True), *zip(singles, expected, strict=False)]:
        assert served["code"] == truth.code
        assert served["probabilities"] == pytest.approx(truth.probabilities, abs=1e-6, rel=0)
    accuracy = sum(p["code"] == item.code for p, item in zip(batch["predictions"], baskets, strict=True)) / len(baskets)
    assert accuracy > 0.7


def test_the_endpoint_scores_what_the_shared_feature_code_computes(test_baskets):
    """The endpoint hands the decoded request straight to basket_features: same features as the Basket."""
    import msgspec

    from retail_api.schemas import BasketIn

    decoder = msgspec.json.Decoder(BasketIn)
    for item in test_baskets[:100]:
        decoded = decoder.decode(json.dumps(request_body(item)).encode())
        assert basket_features(decoded) == basket_features(decoded.to_basket()) == basket_features(item.basket)


def test_anonymous_basket_and_unknown_products_are_fine(client, body):
    anonymous = {key: value for key, value in body.items() if key != "customer"}
    anonymous["lines"] = [{"prod_code": "PRD_NEVER_SEEN", "quantity": 2, "spend": 1.5}]
    response = client.post("/v1/predict", json=anonymous)
    assert response.status_code == 200
    assert sum(response.json()["probabilities"].values()) == pytest.approx(1.0)
    whole_floats = body | {"shop_hour": 9.0, "lines": [body["lines"][0] | {"quantity": 2.0}]}  # JSON's 2.0 is 2
    assert client.post("/v1/predict", json=whole_floats).status_code == 200


def _without(body: dict, key: str) -> dict:
    return {k: v for k, v in body.items() if k != key}


BAD_BODIES = {
    "missing lines": (lambda b: _without(b, "lines"), ["body"]),
    "no lines": (lambda b: b | {"lines": []}, ["body", "lines"]),
    "bad store_format": (lambda b: b | {"store_format": "XXL"}, ["body", "store_format"]),
    "shop_hour 25": (lambda b: b | {"shop_hour": 25}, ["body", "shop_hour"]),
    "shop_hour 7.5": (lambda b: b | {"shop_hour": 7.5}, ["body", "shop_hour"]),
    "shop_hour text": (lambda b: b | {"shop_hour": "evening"}, ["body", "shop_hour"]),
    "bad date": (lambda b: b | {"shop_date": "15/04/2008"}, ["body", "shop_date"]),
    "impossible date": (lambda b: b | {"shop_date": "2007-02-29"}, ["body", "shop_date"]),
    "bad region": (lambda b: b | {"store_region": "east"}, ["body", "store_region"]),
    "region with a newline": (lambda b: b | {"store_region": "E02\n"}, ["body", "store_region"]),
    "unicode digits in region": (lambda b: b | {"store_region": "E\u0660\u0662"}, ["body", "store_region"]),
    "lines not a list": (lambda b: b | {"lines": "PRD0900033"}, ["body", "lines"]),
    "quantity zero": (lambda b: b | {"lines": [b["lines"][0] | {"quantity": 0}]}, ["body", "lines", 0, "quantity"]),
    "fractional quantity": (lambda b: b | {"lines": [b["lines"][0] | {"quantity": 1.5}]}, ["body", "lines", 0, "quantity"]),
    "boolean quantity": (lambda b: b | {"lines": [b["lines"][0] | {"quantity": True}]}, ["body", "lines", 0, "quantity"]),
    "negative spend": (lambda b: b | {"lines": [b["lines"][0] | {"spend": -1}]}, ["body", "lines", 0, "spend"]),
    "blank prod_code": (lambda b: b | {"lines": [b["lines"][0] | {"prod_code": " \t"}]}, ["body", "lines", 0]),
    "blank basket_id": (lambda b: b | {"basket_id": "  "}, ["body"]),
    "65-character store_code": (lambda b: b | {"store_code": "S" * 65}, ["body", "store_code"]),
    "bad customer segment": (lambda b: b | {"customer": {"code": "C1", "price_sensitivity": "HIGH"}}, ["body", "customer", "price_sensitivity"]),
    "misspelt field": (lambda b: _without(b, "customer") | {"cusomter": {"code": "C1"}}, ["body"]),
    "not an object": (lambda b: [b], ["body"]),
}


@pytest.mark.parametrize(("make_bad", "location"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_malformed_baskets_are_422_and_say_where(client, body, make_bad, location):
    response = client.post("/v1/predict", json=make_bad(body))
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["loc"] == location and issue["msg"] and issue["type"] == "validation_error"


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"NaN", b'{"basket_id": 1', b"\xff\xfe{}", b'{"basket_id": "ab\\ud800"}', b'{"spend": 1e999}'],
    ids=["empty", "not json", "NaN", "truncated", "not UTF-8", "lone surrogate", "overflowing number"],
)
def test_a_body_that_is_not_json_is_422_and_safe_to_encode(client, content):
    response = client.post("/v1/predict", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.content.decode("utf-8")  # valid UTF-8: the issue's lone surrogate made a 500 here
    [issue] = response.json()["detail"]
    assert issue["loc"][0] == "body" and issue["msg"]


def test_no_answer_echoes_the_raw_input(client, body):
    secret_looking = "X" * 5000
    response = client.post("/v1/predict", json=body | {"store_format": secret_looking})
    assert response.status_code == 422
    assert len(response.content) < 600 and secret_looking not in response.text
    response = client.post("/v1/predict", json=body | {"basket_type": "Top Up \N{GRINNING FACE}"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "basket_type"]


def test_only_json_bodies_and_only_post(client, body):
    response = client.post("/v1/predict", content=json.dumps(body), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and "application/json" in response.json()["detail"]
    # No content type at all is read as JSON (curl -d without -H sends form encoding; that is refused above).
    assert client.post("/v1/predict", content=json.dumps(body)).status_code == 200
    assert client.post("/v1/predict", json=body, headers={"Content-Type": "application/json; charset=utf-8"}).status_code == 200
    response = client.get("/v1/predict")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_size_limits_are_413_with_a_message(lake, body):
    settings = Settings(lake=str(lake), max_batch_baskets=3, max_basket_lines=4, max_body_bytes=20_000, prediction_log=False)
    body = body | {"lines": body["lines"][:4]}
    with TestClient(create_app(settings)) as client:
        too_many = client.post("/v1/predict/batch", json={"baskets": [body] * 4})
        assert too_many.status_code == 413 and "at most 3 baskets" in too_many.json()["detail"]
        assert client.post("/v1/predict/batch", json={"baskets": [body] * 3}).status_code == 200
        long_basket = body | {"lines": body["lines"][:1] * 5}
        response = client.post("/v1/predict", json=long_basket)
        assert response.status_code == 413 and "5 lines; at most 4" in response.json()["detail"]
        response = client.post("/v1/predict/batch", json={"baskets": [body, long_basket]})
        assert response.status_code == 413 and "basket 1 has 5 lines" in response.json()["detail"]
        huge = body | {"basket_id": "B" * 30_000}
        response = client.post("/v1/predict", json=huge)
        assert response.status_code == 413 and "larger than 20000 bytes" in response.json()["detail"]
        assert response.headers["connection"] == "close"
        assert client.post("/v1/predict/batch", json={"baskets": []}).status_code == 422


def test_without_a_model_predict_is_503_and_not_ready(tmp_path, body):
    with TestClient(create_app(Settings(lake=str(tmp_path / "empty-lake"), prediction_log=False))) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready" and "no released or Approved model" in ready.json()["detail"]
        response = client.post("/v1/predict", json=body)
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert "no model is loaded" in response.json()["detail"]
        assert client.post("/v1/predict/batch", json={"baskets": [body]}).status_code == 503
        assert client.get("/v1/model").status_code == 503


def test_api_key_is_checked_first_and_probes_stay_open(lake, body):
    with TestClient(create_app(Settings(lake=str(lake), api_key="s3cret", prediction_log=False))) as client:
        for path, payload in [("/v1/predict", body), ("/v1/predict/batch", {"baskets": [body]})]:
            assert client.post(path, json=payload).status_code == 401
            wrong = client.post(path, json=payload, headers={"X-API-Key": "wrong"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "ApiKey"
        # The key is checked before the body is read: no key and a malformed body is 401, not 422.
        assert client.post("/v1/predict", content=b"{not json").status_code == 401
        assert client.post("/v1/predict", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/v1/model").status_code == 401
        assert client.get("/v1/model", headers={"X-API-Key": "s3cret"}).status_code == 200
        # Probes and metrics stay open for the orchestrator and the scraper, which hold no key.
        assert [client.get(path).status_code for path in ("/healthz", "/readyz", "/metrics")] == [200, 200, 200]


def test_api_key_from_a_mounted_secret_file(lake, body, tmp_path):
    secret = tmp_path / "api-key"
    secret.write_text("from-a-file\n")  # a Kubernetes secret file often ends with a newline
    with TestClient(create_app(Settings(lake=str(lake), api_key_file=secret, prediction_log=False))) as client:
        assert client.post("/v1/predict", json=body, headers={"X-API-Key": "from-a-file"}).status_code == 200
        assert client.post("/v1/predict", json=body, headers={"X-API-Key": "from-a-file\n"}).status_code == 401
    with pytest.raises(ConfigurationError, match="RETAIL_API_KEY_FILE=.*cannot be read"):
        create_app(Settings(lake=str(lake), api_key_file=tmp_path / "missing"))
    with pytest.raises(ValueError, match="not both"):
        Settings(lake=str(lake), api_key="a", api_key_file=secret)


def test_settings_come_from_the_environment_when_the_app_is_created(lake, monkeypatch):
    monkeypatch.setenv("RETAIL_LAKE", str(lake))
    monkeypatch.setenv("RETAIL_API_KEY", "k")
    monkeypatch.setenv("RETAIL_MODEL_POLL_SECONDS", "0.5")
    monkeypatch.setenv("RETAIL_MAX_BATCH_BASKETS", "50")
    monkeypatch.setenv("RETAIL_PREDICTION_LOG", "false")
    settings = Settings()
    assert (settings.lake, settings.api_key.get_secret_value(), settings.model_poll_seconds) == (str(lake.resolve()), "k", 0.5)
    assert (settings.max_batch_baskets, settings.prediction_log) == (50, False)
    monkeypatch.setenv("RETAIL_API_KEY", "")
    assert Settings().api_key is None
    assert settings.model_version is None


def test_the_api_reads_the_model_version_the_eks_release_writes(monkeypatch):
    """The release pins pods through this ConfigMap key; the base ConfigMap's empty value means "follow the release"."""
    from retail_assets.release.manifests import MODEL_VERSION_SETTING

    monkeypatch.setenv(MODEL_VERSION_SETTING, "20261125-214556-a344ef4f")
    assert Settings().model_version == "20261125-214556-a344ef4f"
    monkeypatch.setenv(MODEL_VERSION_SETTING, "")
    assert Settings().model_version is None
    monkeypatch.setenv(MODEL_VERSION_SETTING, "v1; rm -rf /")
    with pytest.raises(ValueError, match="RETAIL_MODEL_VERSION"):
        Settings()


def test_v1_model_says_what_serves_and_what_it_was_trained_on(client, lake):
    info = client.get("/v1/model").json()
    metrics = json.loads((lake / "models" / "v1" / "metrics.json").read_text())
    assert info["version"] == "v1" and info["candidate"] == "logistic_regression"
    assert info["classes"] == ["LA", "MM", "UM"] and info["feature_version"] == FEATURE_VERSION
    assert info["trained_at"] == metrics["trained_at"] and info["loaded_at"]
    assert info["registry_status"] == APPROVED and info["model_uri"] == str(lake / "models" / "v1")
    assert info["metrics"]["macro_f1"] == metrics["macro_f1"] and info["metrics"]["n_test"] == metrics["n_test"]
    assert info["data_versions"] == metrics["data_versions"]
    assert info["scorer"] == {"kind": "linear", "reason": None}


def test_a_new_release_is_hot_swapped_without_failed_requests(client, lake, tmp_path, body):
    """In-flight requests finish on the model they started with; the swap compiles a tree model first."""
    assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"
    from tests.helpers.scoring_data import train_and_held_out

    xgboost = fit_pipeline("xgboost", train_and_held_out(n_train=400, n_test=10)[0])
    with ThreadPoolExecutor(max_workers=4) as pool:
        during = [pool.submit(client.post, "/v1/predict", json=body) for _ in range(100)]
        publish(lake, save_model(xgboost, tmp_path / "xgb"), "v2")
        wait_for(lambda: client.get("/readyz").json()["model_version"] == "v2")
        responses = [future.result() for future in during]
    assert [r.status_code for r in responses] == [200] * len(responses)
    assert {r.json()["model_version"] for r in responses} <= {"v1", "v2"}
    assert client.post("/v1/predict", json=body).json()["model_version"] == "v2"
    assert client.get("/v1/model").json()["scorer"]["kind"] == "trees"
    assert 'retail_api_model_swaps_total 1.0' in client.get("/metrics").text


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
    # Retried with backoff (a broken file may be re-copied), and every failed attempt counted.
    wait_for(lambda: "retail_api_model_load_failures_total 2.0" in client.get("/metrics").text)
    assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"


def test_a_release_that_cannot_score_is_refused(client, lake, tmp_path, body):
    """An artefact that unpickles but cannot predict (here: no classifier) never replaces the serving model."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.pipeline import Pipeline

    vectorizer = DictVectorizer().fit([basket_features(_any_basket())])
    broken = PriceSensitivityModel(Pipeline([("vectorize", vectorizer)]), {"classes": ["LA", "MM", "UM"]})
    publish(lake, save_model(broken, tmp_path / "broken"), "v4")
    ready = wait_for(lambda: (r := client.get("/readyz").json())["detail"] and r)
    assert ready["model_version"] == "v1" and "cannot score a basket" in ready["detail"]
    assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"


def test_a_rejected_model_with_nothing_to_roll_back_to_stops_serving(client, lake, body):
    """Defect 3 of issue 15: the rejected model kept answering and /readyz stayed ready."""
    assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"
    LakeModelRegistry(LocalLake(lake)).decide("v1", "Rejected", "leaks the test weeks", "ana")
    ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 503 and r.json())
    assert "model version v1 is Rejected (leaks the test weeks, by ana)" in ready["detail"]
    assert "no earlier release is still Approved" in ready["detail"]
    for response in (client.post("/v1/predict", json=body), client.post("/v1/predict/batch", json={"baskets": [body]}), client.get("/v1/model")):
        assert response.status_code == 503 and "retail-mlops models approve" in response.json()["detail"]
    metrics = client.get("/metrics").text
    assert "retail_api_model_serving 0.0" in metrics and 'version=""' in metrics


def test_a_rejected_release_rolls_back_to_the_previous_release_not_to_an_unreleased_version(client, lake, tmp_path, body, trained):
    registry = LakeModelRegistry(LocalLake(lake))
    publish(lake, trained[0], "v2")
    wait_for(lambda: client.get("/readyz").json()["model_version"] == "v2")
    publish(lake, trained[0], "v3", release=False)  # Approved, never released
    registry.decide("v2", "Rejected", "misreads the new stores", "ana")
    wait_for(lambda: client.get("/readyz").json()["model_version"] == "v1")
    assert client.post("/v1/predict", json=body).json()["model_version"] == "v1"


def test_a_rejected_model_stops_serving_when_the_release_to_roll_back_to_cannot_be_loaded(client, lake, trained, body):
    registry = LakeModelRegistry(LocalLake(lake))
    publish(lake, trained[0], "v2")
    wait_for(lambda: client.get("/readyz").json()["model_version"] == "v2")
    (lake / "models" / "v1" / "model.joblib").write_bytes(b"garbage")  # the rollback target is broken
    registry.decide("v2", "Rejected", "misreads the new stores", "ana")
    ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 503 and r.json())
    assert "model version v2 is Rejected (misreads the new stores, by ana)" in ready["detail"]
    assert "model version v1, which should replace it, could not be loaded" in ready["detail"]
    assert client.post("/v1/predict", json=body).status_code == 503


def test_a_pinned_pod_stops_serving_its_version_once_it_is_rejected(lake, body):
    """EKS pods are pinned: the rejection must reach them too, whatever the pointer names."""
    settings = Settings(lake=str(lake), model_version="v1", model_poll_seconds=0.05, prediction_log=False)
    with TestClient(create_app(settings)) as pinned:
        assert pinned.post("/v1/predict", json=body).json()["model_version"] == "v1"
        LakeModelRegistry(LocalLake(lake)).decide("v1", "Rejected", "leaks the test weeks", "ana")
        ready = wait_for(lambda: (r := pinned.get("/readyz")).status_code == 503 and r.json())
        assert ready["pinned_version"] == "v1" and "v1 (RETAIL_MODEL_VERSION) is Rejected (leaks the test weeks, by ana)" in ready["detail"]
        answer = pinned.post("/v1/predict", json=body)
        assert answer.status_code == 503 and "retail-mlops models approve" in answer.json()["detail"]


@pytest.mark.parametrize(("pin", "why"), [("v9", "'v9' is not registered"), ("v2", "v2 (RETAIL_MODEL_VERSION) is PendingManualApproval")])
def test_a_pin_that_cannot_serve_leaves_the_pod_not_ready(lake, body, trained, pin, why):
    """A pin never falls back to the release (v1 here): a bad pin fails the rollout instead."""
    LakeModelRegistry(LocalLake(lake)).register("v2", str(lake / "models" / "v1"), FEATURE_VERSION, {})
    with TestClient(create_app(Settings(lake=str(lake), model_version=pin, prediction_log=False))) as pinned:
        ready = pinned.get("/readyz")
        assert ready.status_code == 503 and why in ready.json()["detail"]
        answer = pinned.post("/v1/predict", json=body)
        assert answer.status_code == 503 and why in answer.json()["detail"] and answer.headers["retry-after"] == "5"
        assert "retail_api_model_load_failures_total 1.0" in pinned.get("/metrics").text


def _any_basket():
    from tests.helpers.training_data import synthetic_baskets

    return synthetic_baskets(1, [200801], seed=9)[0].basket


def test_the_api_imports_no_dagster():
    probe = "import sys, retail_api.app; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'retail_assets')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
