"""The prediction log: every captured answer lands in the predictions/ Delta table, on a disk or on
S3, through the local spool and the shipper process; a failing lake or disk never fails a request,
nothing waits in vain (the spool keeps it), and what is dropped is counted."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime

import msgspec
import polars as pl
import pytest
from tests.helpers.scoring_data import publish, wait_for
from tests.helpers.training_data import request_body, train_small_model

from retail_api import predict
from retail_api.app import create_app
from retail_api.log_shipper import UNREADABLE_ROWS, ship
from retail_api.prediction_spool import RECORD_END, UNREADABLE, captured
from retail_api.settings import Settings
from retail_model import FEATURE_VERSION, basket_features
from retail_model.lake import LocalLake, S3Lake
from retail_model.predictions import PREDICTIONS_SCHEMA, PREDICTIONS_TABLE, features_digest
from retail_model.registry import APPROVED, LakeModelRegistry

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("log-model"))


@pytest.fixture
def baskets(trained):
    return [item for item in trained[1] if item.code != "XX"][:30]


@pytest.fixture
def lake(tmp_path, trained):
    lake = tmp_path / "lake"
    publish(lake, trained[0], "v1")
    return lake


def _metric(client: TestClient, name: str) -> float:
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith(name + " ") or line.startswith(name + "{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def _check_rows(table: pl.DataFrame, answers: list[dict], baskets) -> None:
    assert dict(table.schema) == PREDICTIONS_SCHEMA
    assert table.height == len(answers)
    by_basket = {item.basket_id: item for item in baskets}
    today = datetime.now(UTC).date()
    for row, answer in zip(table.sort("basket_id").iter_rows(named=True), sorted(answers, key=lambda a: a["basket_id"]), strict=True):
        features = basket_features(by_basket[row["basket_id"]].basket)
        assert row["request_id"] == answer["request_id"] and row["model_version"] == "v1"
        assert row["feature_version"] == FEATURE_VERSION
        assert dict(zip(row["feature_names"], row["feature_values"], strict=True)) == features
        assert row["features_digest"] == features_digest(features)
        probabilities = [row["probability_high"], row["probability_medium"], row["probability_low"]]
        assert probabilities == list(answer["probabilities"].values())
        assert (row["predicted_code"], row["price_sensitivity"]) == (answer["code"], answer["price_sensitivity"])
        assert row["date"] == row["predicted_at"].date() and abs((row["date"] - today).days) <= 1


def test_every_answer_is_written_to_the_predictions_table(lake, baskets):
    settings = Settings(lake=str(lake), prediction_log_flush_seconds=0.1)
    with TestClient(create_app(settings)) as client:
        answers = [client.post("/v1/predict", json=request_body(item)).json() for item in baskets[:10]]
        batch = client.post("/v1/predict/batch", json={"baskets": [request_body(item) for item in baskets[10:]]}).json()
        answers += [p | {"request_id": batch["request_id"]} for p in batch["predictions"]]
        wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_written_total") == len(baskets), timeout=60)
        assert _metric(client, "retail_api_prediction_log_rows_dropped_total") == 0
    _check_rows(LocalLake(lake).scan(PREDICTIONS_TABLE).collect(), answers, baskets)
    assert any(path.name.startswith("date=") for path in (lake / PREDICTIONS_TABLE).iterdir())


def test_bodies_spread_over_lines_are_logged_with_their_features(lake, baskets):
    """The spool keeps one request per line: a pretty-printed body (tabs, CRLF line breaks) is
    logged like a compact one, with its features rebuilt from it."""
    settings = Settings(lake=str(lake), prediction_log_flush_seconds=0.1)
    headers = {"content-type": "application/json"}
    with TestClient(create_app(settings)) as client:
        answers = [client.post("/v1/predict", content=json.dumps(request_body(item), indent="\t").replace("\n", "\r\n"), headers=headers).json()
                   for item in baskets[:3]]  # fmt: skip
        batch = client.post("/v1/predict/batch", content=json.dumps({"baskets": [request_body(item) for item in baskets[3:6]]}, indent=2),
                            headers=headers).json()  # fmt: skip
        answers += [p | {"request_id": batch["request_id"]} for p in batch["predictions"]]
        wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_written_total") == 6, timeout=60)
        assert _metric(client, "retail_api_prediction_log_rows_dropped_total") == 0
    _check_rows(LocalLake(lake).scan(PREDICTIONS_TABLE).collect(), answers, baskets)


def test_queued_predictions_are_written_when_the_api_stops(lake, baskets):
    settings = Settings(lake=str(lake), prediction_log_flush_seconds=3600)  # only the shutdown flush can write
    with TestClient(create_app(settings)) as client:
        answers = [client.post("/v1/predict", json=request_body(item)).json() for item in baskets[:5]]
    _check_rows(LocalLake(lake).scan(PREDICTIONS_TABLE).collect(), answers, baskets)


def test_predictions_are_written_to_an_s3_lake(aws, trained, baskets):
    """The same table through S3Lake, on moto's S3 server over HTTP (registry and model there too)."""
    lake = S3Lake(f"s3://{aws.bucket}/lake", aws.settings())
    lake.upload_directory(trained[0], "models/v1")
    registry = LakeModelRegistry(lake)
    registry.register("v1", model_uri=lake.uri_of("models/v1"), feature_version=FEATURE_VERSION, metrics={}, status=APPROVED)
    registry.record_release("v1")
    settings = Settings(lake=lake.uri, aws=aws.settings(), prediction_log_flush_seconds=0.1)
    with TestClient(create_app(settings)) as client:
        answers = [client.post("/v1/predict", json=request_body(item)).json() for item in baskets[:6]]
        assert {a["model_version"] for a in answers} == {"v1"}
        wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_written_total") == 6, timeout=30)
    _check_rows(lake.scan(PREDICTIONS_TABLE).collect(), answers, baskets)
    assert any("/date=" in stored.key for stored in lake.list_objects(PREDICTIONS_TABLE))


def test_a_failing_lake_never_fails_a_request_and_loses_nothing(lake, baskets):
    """A file where the table's directory should be makes every write fail, as an unreachable bucket would."""
    (lake / PREDICTIONS_TABLE).write_text("not a Delta table")
    settings = Settings(lake=str(lake), prediction_log_flush_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        statuses = [client.post("/v1/predict", json=request_body(item)).status_code for item in baskets[:8]]
        assert statuses == [200] * 8
        wait_for(lambda: _metric(client, "retail_api_prediction_log_write_failures_total") >= 2, timeout=30)
        assert _metric(client, "retail_api_prediction_log_rows_written_total") == 0
        assert _metric(client, "retail_api_prediction_log_spool_bytes") > 0  # kept on local disk
        (lake / PREDICTIONS_TABLE).unlink()  # the lake recovers: the kept rows and later ones are written
        assert client.post("/v1/predict", json=request_body(baskets[8])).status_code == 200
        wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_written_total") == 9, timeout=90)
        assert _metric(client, "retail_api_prediction_log_rows_dropped_total") == 0
        assert client.get("/readyz").status_code == 200
    assert LocalLake(lake).scan(PREDICTIONS_TABLE).collect().height == 9


def test_rows_the_local_disk_refuses_are_counted_as_dropped(lake, baskets, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the spool folder should be")
    settings = Settings(lake=str(lake), prediction_log_spool=blocked / "spool", prediction_log_flush_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        statuses = [client.post("/v1/predict", json=request_body(item)).status_code for item in baskets[:5]]
        assert statuses == [200] * 5
        wait_for(lambda: _metric(client, 'retail_api_prediction_log_rows_dropped_total{reason="spool_failed"}') == 5)


def test_a_full_spool_drops_and_counts_new_rows(lake, baskets):
    (lake / PREDICTIONS_TABLE).write_text("not a Delta table")  # nothing leaves the spool
    settings = Settings(lake=str(lake), prediction_log_flush_seconds=0.05, prediction_log_spool_max_bytes=1024)
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict", json=request_body(baskets[0])).status_code == 200
        wait_for(lambda: _metric(client, "retail_api_prediction_log_spool_bytes") > 1024)  # one 18-line basket is ~2 kB
        statuses = [client.post("/v1/predict", json=request_body(item)).status_code for item in baskets[1:6]]
        assert statuses == [200] * 5
        wait_for(lambda: _metric(client, 'retail_api_prediction_log_rows_dropped_total{reason="spool_full"}') == 5)


@pytest.mark.parametrize("percent", [0, 50])
def test_capture_samples_the_requests(lake, baskets, percent, monkeypatch):
    """The sample is drawn before a spool line is built: a request left out encodes nothing for the log."""
    encoded = []
    monkeypatch.setattr(predict, "captured", lambda *args: encoded.append(args) or captured(*args))
    settings = Settings(lake=str(lake), prediction_log_capture_percent=percent, prediction_log_flush_seconds=0.05)
    requests = 60
    with TestClient(create_app(settings)) as client:
        for number in range(requests):
            assert client.post("/v1/predict", json=request_body(baskets[number % len(baskets)])).status_code == 200
        kept = _metric(client, "retail_api_prediction_log_rows_captured_total")
        assert kept + _metric(client, "retail_api_prediction_log_rows_sampled_out_total") == requests
        wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_written_total") == kept, timeout=60)
    assert len(encoded) == kept
    if percent == 0:
        assert kept == 0
    else:  # binomial(60, 0.5): outside 10..50 with probability < 1e-6
        assert 10 <= kept <= 50


def test_with_the_log_off_no_request_builds_a_spool_line(lake, baskets, monkeypatch):
    encoded = []
    monkeypatch.setattr(predict, "captured", lambda *args: encoded.append(args) or captured(*args))
    settings = Settings(lake=str(lake), prediction_log=False)
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict", json=request_body(baskets[0])).status_code == 200
        assert client.post("/v1/predict/batch", json={"baskets": [request_body(item) for item in baskets[:3]]}).status_code == 200
    assert encoded == []
    assert not (lake / PREDICTIONS_TABLE).exists()


def test_a_damaged_spool_line_is_kept_aside_and_counted(lake, baskets, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    good = captured("r1", "v1", False, ["LA"], [[0.8, 0.1, 0.1]], msgspec.json.encode(request_body(baskets[0])))
    torn = b'["r2", "v1", false, ["LA"]'  # the API killed mid-write
    mismatched = captured("r3", "v1", False, ["LA", "MM"], [[0.8, 0.1, 0.1]] * 2, msgspec.json.encode(request_body(baskets[1])))
    lines = [good.head + good.body + RECORD_END, torn + b"\n", mismatched.head + mismatched.body + RECORD_END]
    (spool / f"{1:020d}-1.ready").write_bytes(b"".join(lines))
    counters = [0, 0, 0]
    assert ship(spool, LocalLake(lake), counters) == 1
    assert counters[UNREADABLE_ROWS] == 2 and not list(spool.glob("*.ready"))
    assert (spool / UNREADABLE).is_dir()
    assert LocalLake(lake).scan(PREDICTIONS_TABLE).collect().get_column("request_id").to_list() == ["r1"]
