"""The API as a user starts it (`retail-mlops serve`), against the lake the pipeline built."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.helpers.gold import request_from_gold
from tests.helpers.processes import SERVER_START_SECONDS, free_port, stop_process_group, wait_until

CLI = str(Path(sys.executable).parent / "retail-mlops")


@pytest.fixture(scope="module")
def api(pipeline_run, tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("api") / "api.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port)],
            env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, SERVER_START_SECONDS, "the API", process)
        yield base
    finally:
        stop_process_group(process)


@pytest.fixture(scope="module")
def gold_baskets(pipeline_run) -> pl.DataFrame:
    gold = pipeline_run.store.scan("gold")
    return gold.filter(pl.col("basket_price_sensitivity") != "XX").sort("shop_week", "basket_id").collect()


def test_predicts_a_gold_basket_with_the_approved_version(api, pipeline_run, gold_baskets):
    approved = pipeline_run.registry.latest_approved().version
    row = gold_baskets.row(-1, named=True)
    reply = httpx.post(f"{api}/v1/predict", json=request_from_gold(row), timeout=10)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model_version"] == approved == pipeline_run.summary.model_version
    assert body["basket_id"] == row["basket_id"]
    assert body["price_sensitivity"] in {"High", "Medium", "Low"}
    assert {"High": "LA", "Medium": "MM", "Low": "UM"}[body["price_sensitivity"]] == body["code"]
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    assert body["request_id"]


def test_anonymous_basket_and_batch(api, gold_baskets):
    rows = [request_from_gold(r) for r in gold_baskets.head(5).iter_rows(named=True)]
    anonymous = {k: v for k, v in rows[0].items() if k != "customer"}
    assert httpx.post(f"{api}/v1/predict", json=anonymous, timeout=10).status_code == 200
    batch = httpx.post(f"{api}/v1/predict/batch", json={"baskets": rows}, timeout=10)
    assert batch.status_code == 200
    assert [p["basket_id"] for p in batch.json()["predictions"]] == [r["basket_id"] for r in rows]


def test_served_predictions_beat_chance_on_the_held_out_weeks(api, pipeline_run, gold_baskets):
    """The served model is the trained one: on test weeks its accuracy matches metrics.json's."""
    version = pipeline_run.summary.model_version
    metrics = pipeline_run.metrics(version)
    test = gold_baskets.filter(pl.col("shop_week").is_in(metrics["split"]["test_weeks"]))
    reply = httpx.post(f"{api}/v1/predict/batch", json={"baskets": [request_from_gold(r) for r in test.iter_rows(named=True)][:1000]}, timeout=60)
    predicted = [p["code"] for p in reply.json()["predictions"]]
    truth = test["basket_price_sensitivity"].to_list()[: len(predicted)]
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(predicted)
    if len(predicted) == metrics["n_test"]:
        assert accuracy == pytest.approx(metrics["accuracy"], abs=1e-9)
    assert accuracy > 0.51  # the majority class (Medium) alone gives about half


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.pop("lines"),
        lambda b: b.update(store_format="HUGE"),
        lambda b: b.update(shop_hour=25),
        lambda b: b.update(shop_date="not a date"),
        lambda b: b.update(lines=[]),
        lambda b: b["lines"][0].update(quantity="many"),
    ],
    ids=["no lines", "bad store_format", "hour 25", "bad date", "empty lines", "quantity not a number"],
)
def test_malformed_requests_get_422_not_500(api, gold_baskets, mutate):
    body = request_from_gold(gold_baskets.row(0, named=True))
    mutate(body)
    reply = httpx.post(f"{api}/v1/predict", json=body, timeout=10)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"]


def test_non_json_body_gets_422(api):
    reply = httpx.post(f"{api}/v1/predict", content=b"{not json", headers={"content-type": "application/json"}, timeout=10)
    assert reply.status_code == 422
