"""Issue 15, defect 6: prediction-log rows that cannot be written to the lake are kept on local
disk and sent on the next start; a row that is lost anyway is counted in /metrics."""

from __future__ import annotations

import warnings

import pytest
from tests.helpers.scoring_data import publish, wait_for
from tests.helpers.training_data import request_body, train_small_model

from retail_api.app import create_app
from retail_api.settings import Settings
from retail_model.lake import LocalLake
from retail_model.predictions import PREDICTIONS_TABLE

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("spool-model"))


@pytest.fixture
def lake(tmp_path, trained):
    lake = tmp_path / "lake"
    publish(lake, trained[0], "v1")
    return lake


def _metric(client: TestClient, name: str, label: str = "") -> float:
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith((name + " ", name + "{")) and label in line]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def test_rows_the_lake_refuses_at_shutdown_are_sent_on_the_next_start(lake, trained):
    baskets = [item for item in trained[1] if item.code != "XX"][:6]
    (lake / PREDICTIONS_TABLE).write_text("not a Delta table")  # every write fails, as an unreachable bucket would
    with TestClient(create_app(Settings(lake=str(lake), prediction_log_flush_seconds=3600))) as client:
        answers = [client.post("/v1/predict", json=request_body(item)).json() for item in baskets]
        assert {a["model_version"] for a in answers} == {"v1"}
    # The API stopped with the lake still down: nothing was written, and nothing may be lost.
    (lake / PREDICTIONS_TABLE).unlink()  # the lake is back
    with TestClient(create_app(Settings(lake=str(lake), prediction_log_flush_seconds=0.1))) as client:
        wait_for(lambda: _metric(client, "retail_api_prediction_log_rows_written_total") >= len(baskets), timeout=60)
        assert _metric(client, "retail_api_prediction_log_rows_dropped_total") == 0
    table = LocalLake(lake).scan(PREDICTIONS_TABLE).collect()
    assert sorted(table.get_column("request_id").to_list()) == sorted(a["request_id"] for a in answers)
