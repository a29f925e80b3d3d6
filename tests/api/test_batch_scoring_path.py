"""POST /v1/predict/batch answers from the baskets' columns exactly what it answered from feature dicts.

Without explanations the endpoint scores the decoded baskets straight from the vocabulary's
columns (`model.score_baskets`); its answers must stay the floats `model.score` gives for the
baskets' `basket_features`, for the blend training usually picks and for trees, on held-out
baskets and odd ones. A batch asking for explanations keeps the feature dicts (they explain).
"""

from __future__ import annotations

import json
import warnings

import pytest
from tests.helpers.scoring_data import fit_pipeline, publish, save_model, train_and_held_out
from tests.helpers.training_data import LabelledBasket, request_body

import retail_api.predict
from retail_api.app import create_app
from retail_api.decoding import RequestDecoder
from retail_api.schemas import BatchIn
from retail_api.settings import Settings
from retail_model import basket_features
from retail_model.artifact import PriceSensitivityModel

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module", params=["soft_vote", "xgboost"])
def served(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"batch-{request.param}")
    train, held_out = train_and_held_out()
    save_model(fit_pipeline(request.param, train), root / "model")
    publish(root / "lake", root / "model", "v1")
    with TestClient(create_app(Settings(lake=str(root / "lake"), prediction_log=False))) as client:
        yield client, PriceSensitivityModel.load(root / "lake" / "models" / "v1"), held_out


def _odd_bodies(item: LabelledBasket) -> list[dict]:
    """Request bodies a checkout may send: a product twice, no hierarchy, anonymous, no segments, whole numbers as floats."""
    body, line = request_body(item), request_body(item)["lines"][0]
    named = {"code": "C1", "price_sensitivity": "LA", "lifestage": "YA"}
    bare = {key: value for key, value in line.items() if key in ("prod_code", "quantity", "spend")}
    return [
        body | {"lines": [line, line, line | {"quantity": 3.0, "spend": 0.0}]},
        body | {"lines": [bare, bare | {"prod_code": "NEVER-SEEN"}]},
        {key: value for key, value in body.items() if key != "customer"},
        body | {"customer": {"code": "C1"}},
        body | {"customer": {"price_sensitivity": "UM", "lifestage": "OA"}},  # no code: anonymous
        body | {"customer": named, "store_region": "Z99"},
    ]


def _expected(model: PriceSensitivityModel, bodies: list[dict]) -> list[dict]:
    """model.score of the features of the baskets as the endpoint decodes them: what the endpoint answered before."""
    baskets = RequestDecoder(BatchIn).decode(json.dumps({"baskets": bodies}).encode()).baskets
    codes, probabilities = model.score(list(map(basket_features, baskets)))
    return [{"code": code, "probabilities": dict(zip(("High", "Medium", "Low"), row, strict=True))}
            for code, row in zip(codes, probabilities, strict=True)]  # fmt: skip


def test_batch_answers_are_the_feature_dicts_answers(served):
    client, model, held_out = served
    bodies = [request_body(item) for item in held_out[:300]] + _odd_bodies(held_out[0])
    answer = client.post("/v1/predict/batch", json={"baskets": bodies}).json()
    # JSON carries each float's shortest round-tripping text: equal floats, not merely close ones
    assert [{"code": p["code"], "probabilities": p["probabilities"]} for p in answer["predictions"]] == _expected(model, bodies)
    assert [p["basket_id"] for p in answer["predictions"]] == [body["basket_id"] for body in bodies]


def test_no_feature_dict_is_built_unless_the_batch_asks_for_explanations(served, monkeypatch):
    """The columns path is the one taken (a counting wrapper around basket_features); explanations keep the dicts, same floats."""
    client, model, held_out = served
    calls = []

    def counted(basket):
        calls.append(basket)
        return basket_features(basket)

    monkeypatch.setattr(retail_api.predict, "basket_features", counted)
    bodies = [request_body(item) for item in held_out[:5]]
    plain = client.post("/v1/predict/batch", json={"baskets": bodies}).json()["predictions"]
    assert calls == []
    explained = client.post("/v1/predict/batch", json={"baskets": bodies, "explain": 2}).json()["predictions"]
    assert len(calls) == 5
    assert [p["probabilities"] for p in explained] == [p["probabilities"] for p in plain]
