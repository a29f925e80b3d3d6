"""What operators and integrators read: /metrics, the OpenAPI document, and /docs with no internet."""

from __future__ import annotations

import re
import warnings

import pytest
from tests.helpers.scoring_data import publish
from tests.helpers.training_data import request_body, train_small_model

from retail_api.app import create_app
from retail_api.openapi import EXAMPLE_BASKET
from retail_api.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    model_dir, test = train_small_model(tmp_path_factory.mktemp("observability-model"))
    lake = tmp_path_factory.mktemp("observability") / "lake"
    publish(lake, model_dir, "v1")
    return lake, [request_body(item) for item in test if item.code != "XX"]


def _client(lake, **settings) -> TestClient:
    return TestClient(create_app(Settings(lake=str(lake), prediction_log=False, **settings)))


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if all(found.get(key) == value for key, value in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels} in\n{text}")


def test_metrics_count_requests_latency_predictions_and_the_model(served):
    lake, bodies = served
    with _client(lake) as client:
        answers = [client.post("/v1/predict", json=body).json() for body in bodies[:7]]
        batch = client.post("/v1/predict/batch", json={"baskets": bodies[:20]}).json()["predictions"]
        client.post("/v1/predict", json={"nope": 1})
        for path in ("/wp-admin", "/.env", "/v1/predict/", "/random-1", "/random-2"):
            assert client.get(path).status_code in (404, 405)
        text = client.get("/metrics").text
    assert _sample(text, "retail_api_requests_total", route="/v1/predict", status="200") == 7
    assert _sample(text, "retail_api_requests_total", route="/v1/predict", status="422") == 1
    assert _sample(text, "retail_api_requests_total", route="/v1/predict/batch", status="200") == 1
    assert _sample(text, "retail_api_request_duration_seconds_count", route="/v1/predict", status="200") == 7
    assert _sample(text, "retail_api_request_duration_seconds_bucket", route="/v1/predict", status="200", le="+Inf") == 7
    by_class = {name: _sample(text, "retail_api_predictions_total", price_sensitivity=name) for name in ("High", "Medium", "Low")}
    expected = {name: sum(a["price_sensitivity"] == name for a in [*answers, *batch]) for name in by_class}
    assert by_class == expected and sum(by_class.values()) == 27
    # Unknown paths share one label, so scanners cannot grow the series count.
    assert _sample(text, "retail_api_requests_total", route="unmatched", status="404") == 5
    assert _sample(text, "retail_api_model_info", version="v1", candidate="logistic_regression", scorer="linear") == 1
    assert _sample(text, "retail_api_model_swaps_total") == 0


def test_metrics_speak_openmetrics_when_asked(served):
    lake, _ = served
    with _client(lake) as client:
        response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_docs_render_from_local_assets_only(served):
    """/docs must work with no internet: the page loads Swagger UI from the API itself, never a CDN."""
    lake, _ = served
    with _client(lake) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(source.startswith("/") for source in sources), sources
        assert "http://" not in page.text and "https://" not in page.text.replace("https://swagger.io", "")
        bundle = next(source for source in sources if source.endswith("swagger-ui-bundle.js"))
        script = client.get(bundle)
        assert script.status_code == 200 and "SwaggerUIBundle" in script.text
        # Swagger UI 5 or later: 4.x cannot render the OpenAPI 3.1 document FastAPI writes.
        assert int(re.search(r'version:"(\d+)\.\d+\.\d+"', script.text)[1]) >= 5
        assert all(client.get(source).status_code == 200 for source in sources)
        assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_openapi_describes_every_endpoint_with_the_limits_in_force(served):
    lake, bodies = served
    with _client(lake, api_key="k", max_batch_baskets=7, max_basket_lines=9) as client:
        document = client.get("/openapi.json").json()
        example = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["examples"]
        assert client.post("/v1/predict", json=example["checkout"]["value"], headers={"X-API-Key": "k"}).status_code == 200
    paths = document["paths"]
    assert set(paths) == {"/v1/predict", "/v1/predict/batch", "/v1/model", "/healthz", "/readyz", "/metrics"}
    schemas = document["components"]["schemas"]
    assert schemas["BasketIn"]["properties"]["lines"]["maxItems"] == 9
    assert schemas["BatchIn"]["properties"]["baskets"]["maxItems"] == 7
    assert schemas["BasketIn"]["additionalProperties"] is False
    for path in ("/v1/predict", "/v1/predict/batch"):
        operation = paths[path]["post"]
        assert set(operation["responses"]) == {"200", "401", "413", "415", "422", "503"}
        assert operation["security"] == [{"APIKeyHeader": []}]
    assert paths["/v1/model"]["get"]["security"] == [{"APIKeyHeader": []}]
    assert document["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key", "description": "RETAIL_API_KEY",
    }  # fmt: skip
    assert EXAMPLE_BASKET == example["checkout"]["value"]


def test_an_open_api_claims_no_key(served):
    lake, _ = served
    with _client(lake) as client:
        document = client.get("/openapi.json").json()
    assert "securitySchemes" not in document.get("components", {})
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "security" not in operation and "401" not in operation["responses"]
