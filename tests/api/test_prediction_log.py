"""The prediction log: every answer lands in the predictions/ Delta table, on a disk or on S3,
and a full, slow or failing sink never fails a request (what it drops is counted)."""

from __future__ import annotations

import threading
import warnings
from datetime import UTC, datetime

import polars as pl
import pytest
from tests.helpers.scoring_data import publish, wait_for
from tests.helpers.training_data import request_body, train_small_model

from retail_api.app import create_app
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
        wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_written_total") == len(baskets))
        assert _metric(client, "retail_api_prediction_log_rows_dropped_total") == 0
    _check_rows(LocalLake(lake).scan(PREDICTIONS_TABLE).collect(), answers, baskets)
    assert any(path.name.startswith("date=") for path in (lake / PREDICTIONS_TABLE).iterdir())


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


def test_a_failing_sink_never_fails_a_request_and_its_losses_are_counted(lake, baskets):
    """A file where the table's directory should be makes every write fail, as an unreachable bucket would."""
    (lake / PREDICTIONS_TABLE).write_text("not a Delta table")
    settings = Settings(lake=str(lake), prediction_log_flush_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        statuses = [client.post("/v1/predict", json=request_body(item)).status_code for item in baskets[:8]]
        assert statuses == [200] * 8
        wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_dropped_total") == 8)  # after 3 attempts
        assert _metric(client, "retail_api_prediction_log_write_failures_total") >= 3
        assert _metric(client, "retail_api_prediction_log_rows_written_total") == 0
        (lake / PREDICTIONS_TABLE).unlink()  # the sink recovers: later answers are written again
        assert client.post("/v1/predict", json=request_body(baskets[8])).status_code == 200
        wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_written_total") == 1)
        assert client.get("/readyz").status_code == 200


class _StalledLake(LocalLake):
    """A lake whose table writes hang until released: a sink that has stopped answering."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.release = threading.Event()
        self.writing = threading.Event()

    def append(self, table, frame, partition_by=None):
        self.writing.set()
        self.release.wait(timeout=60)
        return super().append(table, frame, partition_by=partition_by)


def test_a_stalled_sink_neither_blocks_requests_nor_grows_without_bound(lake, baskets, monkeypatch):
    stalled = _StalledLake(lake)
    monkeypatch.setattr(Settings, "open_lake", lambda self: stalled)
    settings = Settings(lake=str(lake), prediction_log_flush_seconds=0.05, prediction_log_queue_rows=10)
    try:
        with TestClient(create_app(settings)) as client:
            first = client.post("/v1/predict", json=request_body(baskets[0]))
            assert first.status_code == 200
            assert stalled.writing.wait(timeout=10)  # the writer holds the first row and hangs
            statuses = [client.post("/v1/predict", json=request_body(item)).status_code for item in baskets[1:25]]
            assert statuses == [200] * 24  # answered while the sink hangs
            # The queue holds 10 unwritten rows (the one in the hung write counts): 15 are dropped, and counted.
            assert _metric(client, "retail_api_prediction_log_rows_dropped_total") == 15
            assert _metric(client, "retail_api_prediction_log_queued_rows") == 10
            stalled.release.set()
            wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_written_total") == 10)
    finally:
        stalled.release.set()
    assert stalled.scan(PREDICTIONS_TABLE).collect().height == 10
