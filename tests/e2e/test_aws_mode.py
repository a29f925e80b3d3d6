"""aws mode end to end against moto's server: the lake and landing zone on S3, the whole graph, the API.

moto's S3 over HTTP on 127.0.0.1 plays S3. Training runs as the local subprocess
(RETAIL_TRAINING=subprocess: channels fetched from and the model put back to S3) and the
release pointer stays in the lake (RETAIL_RELEASE=local, RETAIL_REGISTRY=local), because moto
runs no SageMaker training container and there is no Kubernetes here.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import dagster as dg
import httpx
import polars as pl
import pytest
from rich.console import Console
from rich.progress import Progress

from retail_assets.sample_data import generate_sample_data
from retail_model.lake import S3Lake
from retail_model.registry import LakeModelRegistry
from retail_model.settings import AwsSettings
from tests.helpers.gold import request_from_gold
from tests.helpers.processes import SERVER_START_SECONDS, free_port, stop_process_group, wait_until

CLI = str(Path(sys.executable).parent / "retail-mlops")


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aws-sample")
    generate_sample_data(out, weeks=4, baskets_per_week=500, seed=5)
    return out


@dataclass
class S3Run:
    lake: S3Lake
    bucket: str
    client: object
    instance: dg.DagsterInstance
    summary: object


@pytest.fixture(scope="module")
def s3_run(moto_endpoint, small_sample) -> Iterator[S3Run]:
    """The environment a user exports to run on S3 (here: moto) without SageMaker or EKS, and one
    `materialize --landing DIR` of the whole graph in it."""
    from retail_assets.pipeline import run_pipeline

    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    settings = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "RETAIL_MODE": "aws",
        "RETAIL_LAKE": f"s3://{bucket}/retail",
        "RETAIL_TRAINING": "subprocess",
        "RETAIL_REGISTRY": "local",
        "RETAIL_RELEASE": "local",
        "RETAIL_ALERTS": "local",
        "RETAIL_MIN_MACRO_F1": "0.3",  # these tests are about where things are stored, not model quality
    }
    with pytest.MonkeyPatch.context() as patch, dg.instance_for_test() as instance:
        for name, value in settings.items():
            patch.setenv(name, value)
        client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        lake = S3Lake(settings["RETAIL_LAKE"], AwsSettings(endpoint_url=moto_endpoint, region="us-east-1"))
        summary = run_pipeline(small_sample, instance, Progress(console=Console(quiet=True)))
        yield S3Run(lake, bucket, client, instance, summary)


def test_the_whole_graph_runs_on_s3(s3_run, small_sample):
    lake, summary = s3_run.lake, s3_run.summary

    # Landing: `materialize --landing DIR` uploaded every weekly file to <lake>/landing/ on S3.
    landed = {s.name for s in lake.list_objects("landing")}
    assert landed == {p.name for p in small_sample.glob("transactions_*.csv")}
    assert summary.weeks_ingested == sorted(p.stem.split("_")[1] for p in small_sample.glob("*.csv"))

    # Counts reconcile, read back from the Delta tables on S3.
    landed_rows = sum(len(p.read_text().splitlines()) - 1 for p in small_sample.glob("transactions_*.csv"))
    raw, quarantined = lake.count_rows("raw"), lake.count_rows("quarantine")
    assert raw + quarantined == landed_rows
    assert lake.count_rows("silver") == raw
    gold = lake.scan("gold").collect()
    assert gold["basket_id"].is_unique().all() and gold["n_lines"].sum() == raw
    assert lake.count_rows("features") == gold.height
    keys = [o["Key"] for o in s3_run.client.list_objects_v2(Bucket=s3_run.bucket, Prefix="retail/gold/_delta_log/")["Contents"]]
    assert keys, "gold is a Delta table on S3"

    # The model, its registry entry and the release pointer live in the S3 lake.
    version = summary.model_version
    registry = LakeModelRegistry(lake)
    assert registry.released().version == version
    assert registry.get(version).model_uri == f"{lake.uri}/models/{version}"
    assert lake.exists(f"models/{version}/model.joblib") and lake.exists(f"models/{version}/model_card.md")



def test_time_travel_reproduces_a_models_training_rows(s3_run):
    """Even after the feature table moved on, the versions in metrics.json give back the exact rows."""
    lake, version = s3_run.lake, s3_run.summary.model_version
    metrics = lake.read_json(f"models/{version}/metrics.json")
    versions = metrics["data_versions"]
    assert versions["features"] == lake.table_version("features") and versions["gold"] == lake.table_version("gold")
    gold = lake.scan("gold").collect()
    current = lake.scan("features").collect()
    lake.overwrite_table("features", current.head(3))
    as_trained = lake.scan("features", version=versions["features"]).collect()
    train_rows = as_trained.filter(
        pl.col("shop_week").is_in(metrics["split"]["train_weeks"]) & (pl.col("basket_price_sensitivity") != "XX")
    )
    channel = pl.read_parquet(io.BytesIO(lake.read_bytes(f"training/jobs/{version}/input/data/train/part-0.parquet")))
    assert train_rows.height == metrics["n_train"]
    assert sorted(train_rows["basket_id"]) == sorted(channel.filter(pl.col("basket_price_sensitivity") != "XX")["basket_id"])
    assert lake.scan("gold", version=versions["gold"]).collect().height == gold.height
    lake.overwrite_table("features", current)  # put the table back for the tests that follow


def test_the_api_serves_the_release_from_the_s3_lake(s3_run, tmp_path):
    """`retail-mlops serve` with RETAIL_LAKE=s3://... loads the released model from S3 and answers."""
    summary = s3_run.summary
    gold = s3_run.lake.scan("gold").filter(pl.col("basket_price_sensitivity") != "XX").head(1).collect()

    port = free_port()
    with (tmp_path / "api.log").open("w") as log:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port)], env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, SERVER_START_SECONDS, "the API on S3", process)
        assert httpx.get(f"{base}/readyz", timeout=5).json()["model_version"] == summary.model_version
        reply = httpx.post(f"{base}/v1/predict", json=request_from_gold(gold.row(0, named=True)), timeout=10)
        assert reply.status_code == 200, reply.text
        assert reply.json()["model_version"] == summary.model_version
    finally:
        stop_process_group(process)


def test_an_unreadable_file_is_rejected_on_s3_and_the_other_weeks_stay(s3_run, tmp_path):
    from retail_assets.definitions import defs
    from retail_assets.defs.asset_keys import RAW

    lake = s3_run.lake
    weeks_before = lake.scan("raw").select(pl.col("shop_week").unique().sort()).collect()["shop_week"].to_list()
    bad = tmp_path / "transactions_200652.csv"
    bad.write_bytes(b"\x00\x01 not a csv")
    lake.upload_file(bad, f"landing/{bad.name}")
    s3_run.instance.add_dynamic_partitions("shop_weeks", ["200652"])
    result = defs().resolve_implicit_global_asset_job_def().execute_in_process(
        instance=s3_run.instance, asset_selection=[RAW], partition_key="200652", raise_on_error=False
    )
    assert not result.success
    assert lake.exists(f"landing/rejected/{bad.name}")
    error = lake.read_json(f"landing/rejected/{bad.name}.error.json")
    assert "binary content" in error["reason"] and error["file"] == bad.name
    assert lake.scan("raw").select(pl.col("shop_week").unique().sort()).collect()["shop_week"].to_list() == weeks_before
