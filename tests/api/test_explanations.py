"""`explain` on the prediction endpoints: each class's top-k contributions, adding up to the score
the answer reports, whose softmax is the answer's probabilities; for one basket and for a batch."""

from __future__ import annotations

import math
import warnings

import pytest
from tests.helpers.scoring_data import publish
from tests.helpers.training_data import request_body, train_small_model

from retail_api.app import create_app
from retail_api.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    model_dir, baskets = train_small_model(root / "model")
    publish(root / "lake", model_dir, "v1")
    with TestClient(create_app(Settings(lake=str(root / "lake"), prediction_log=False))) as client:
        client.baskets = [item for item in baskets if item.code != "XX"][:20]
        yield client


def _check(answer: dict, k: int) -> None:
    explanation = answer["explanation"]
    classes = explanation["classes"]
    assert set(classes) == {"High", "Medium", "Low"}
    for cls in classes.values():
        assert 0 < len(cls["top"]) <= k
        total = cls["intercept"] + sum(c["contribution"] for c in cls["top"]) + cls["other"]
        assert total == pytest.approx(cls["score"], abs=1e-9)
    assert explanation["link"] == "softmax"  # the small model is a logistic regression
    largest = max(cls["score"] for cls in classes.values())
    exponentials = {name: math.exp(cls["score"] - largest) for name, cls in classes.items()}
    for name, value in exponentials.items():
        assert value / sum(exponentials.values()) == pytest.approx(answer["probabilities"][name], abs=1e-9)


def test_one_basket_explained_on_request(client):
    plain = client.post("/v1/predict", json=request_body(client.baskets[0])).json()
    assert "explanation" not in plain  # only when asked
    answer = client.post("/v1/predict", json=request_body(client.baskets[0]) | {"explain": 3}).json()
    _check(answer, 3)
    assert answer["probabilities"] == plain["probabilities"]
    # JSON's 3.0 is the whole number 3 (schemathesis sends it so)
    assert client.post("/v1/predict", json=request_body(client.baskets[0]) | {"explain": 3.0}).json()["explanation"] == answer["explanation"]
    features = {c["feature"] for cls in answer["explanation"]["classes"].values() for c in cls["top"]}
    assert any(name.startswith("product=") for name in features)


def test_a_batch_explained_with_the_batch_or_a_baskets_own_k(client):
    bodies = [request_body(item) for item in client.baskets]
    # The basket asking for its own k has more than 5 products, so 5 contributions exist whatever
    # feature set the model was trained on.
    own = max(range(len(bodies)), key=lambda number: len({line["prod_code"] for line in bodies[number]["lines"]}))
    assert len({line["prod_code"] for line in bodies[own]["lines"]}) > 5
    bodies[own] = bodies[own] | {"explain": 5}
    answer = client.post("/v1/predict/batch", json={"baskets": bodies, "explain": 2}).json()
    for number, prediction in enumerate(answer["predictions"]):
        _check(prediction, 5 if number == own else 2)
    assert len(answer["predictions"][own]["explanation"]["classes"]["High"]["top"]) == 5
    other = 0 if own else 1
    unasked = client.post("/v1/predict/batch", json={"baskets": [request_body(client.baskets[other]), bodies[own]]}).json()
    assert "explanation" not in unasked["predictions"][0] and "explanation" in unasked["predictions"][1]


def test_an_impossible_explain_is_a_422_that_says_where(client):
    response = client.post("/v1/predict", json=request_body(client.baskets[0]) | {"explain": 51})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "explain"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["BasketIn"]["properties"]["explain"]["maximum"] == 50
    assert "explanation" in schema["PredictionOut"]["properties"]


def test_a_basket_is_explained_alike_alone_and_in_a_batch(client):
    """One basket is scored and explained in one pass over its features, a batch by the batch path: the same answer."""
    for item in client.baskets[:5]:
        body = request_body(item) | {"explain": 4}
        alone = client.post("/v1/predict", json=body).json()
        [batched] = client.post("/v1/predict/batch", json={"baskets": [body]}).json()["predictions"]
        assert (alone["probabilities"], alone["code"]) == (batched["probabilities"], batched["code"])
        assert alone["explanation"] == batched["explanation"]
