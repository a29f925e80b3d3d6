"""A real `dagster dev` on the workspace: the UI's GraphQL API serves the graph and its runs."""

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.paths import REPO as REPO_ROOT
from tests.helpers.processes import DAGSTER_DEV_START_SECONDS, SERVER_START_SECONDS, free_port, stop_process_group, wait_until

REPO = REPO_ROOT
QUERY = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    isPartitioned
    assetMaterializations(limit: 1) { runId }
    automationCondition { label }
    internalFreshnessPolicy { ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds } }
    freshnessStatusInfo { freshnessStatus }
  }
  runsOrError { ... on Runs { count } }
}
"""


def test_definitions_validate_from_the_command_line(lake_env):
    dagster = Path(sys.executable).parent / "dagster"
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_dagster_dev_serves_the_materialized_graph(pipeline_run, tmp_path):
    port = free_port()
    dagster = Path(sys.executable).parent / "dagster"
    log = (tmp_path / "dagster-dev.log").open("w")
    runs_before = len(pipeline_run.instance.get_run_records())
    environment = {**os.environ, "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5"}
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        def query() -> dict:
            return httpx.post(url, json={"query": QUERY}, timeout=10).json().get("data") or {}

        def freshness_evaluated() -> bool:
            nodes = query().get("assetNodes") or []
            return any((n["freshnessStatusInfo"] or {}).get("freshnessStatus") == "HEALTHY" for n in nodes)

        wait_until(lambda: bool(query().get("assetNodes")), timeout=DAGSTER_DEV_START_SECONDS, what="dagster dev GraphQL", process=process)
        wait_until(freshness_evaluated, timeout=SERVER_START_SECONDS, what="the freshness daemon", process=process)
        data = query()
        nodes = data["assetNodes"]
    finally:
        stop_process_group(process)
        log.close()
    by_name = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert set(by_name) == {
        "raw_transactions", "silver_transactions", "gold_baskets", "basket_features",
        "price_sensitivity_model", "registered_model", "api_release",
        "prediction_log", "feature_drift", "live_accuracy", "basket_predictions", "lake_maintenance",
    }
    assert [d["path"] for d in by_name["gold_baskets"]["dependencyKeys"]] == [["silver_transactions"]]
    assert by_name["silver_transactions"]["isPartitioned"] and not by_name["api_release"]["isPartitioned"]
    # The runs `retail-mlops materialize` made are the ones the UI shows.
    # The prediction log is written by the API, not by Dagster, and lake maintenance runs on its weekly
    # schedule: they are the assets a `materialize` leaves unmaterialized.
    unmaterialized = {name for name, n in by_name.items() if not n["assetMaterializations"]}
    assert unmaterialized == {"prediction_log", "lake_maintenance"}, "every asset the CLI materializes shows a materialization in the UI"

    # Automation and freshness are visible in the UI (no more "No automations found").
    for name in ("basket_features", "price_sensitivity_model", "registered_model", "api_release"):
        assert by_name[name]["automationCondition"]["label"] == "eager", name
    for name in ("raw_transactions", "gold_baskets", "basket_features", "price_sensitivity_model"):
        policy = by_name[name]["internalFreshnessPolicy"]
        assert (policy["warnWindowSeconds"], policy["failWindowSeconds"]) == (7 * 86400, 8 * 86400), name
        assert by_name[name]["freshnessStatusInfo"]["freshnessStatus"] == "HEALTHY", name
    # Starting the UI and its daemon after a CLI run launches nothing: the lake is up to date.
    assert data["runsOrError"]["count"] == runs_before
