"""A real `dagster dev` on the workspace: the UI's GraphQL API serves the graph and its runs."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import free_port, stop_process_group, wait_until

REPO = Path(__file__).resolve().parent.parent
QUERY = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    isPartitioned
    assetMaterializations(limit: 1) { runId }
  }
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
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        def graph_loaded() -> bool:
            reply = httpx.post(url, json={"query": QUERY}, timeout=10).json()
            return bool(reply.get("data", {}).get("assetNodes"))

        wait_until(graph_loaded, timeout=120, what="dagster dev GraphQL", process=process)
        nodes = httpx.post(url, json={"query": QUERY}, timeout=10).json()["data"]["assetNodes"]
    finally:
        stop_process_group(process)
        log.close()
    by_name = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    assert set(by_name) == {
        "raw_transactions", "silver_transactions", "gold_baskets", "basket_features",
        "price_sensitivity_model", "registered_model", "api_release",
    }
    assert [d["path"] for d in by_name["gold_baskets"]["dependencyKeys"]] == [["silver_transactions"]]
    assert by_name["silver_transactions"]["isPartitioned"] and not by_name["api_release"]["isPartitioned"]
    # The runs `retail-mlops materialize` made are the ones the UI shows.
    assert all(n["assetMaterializations"] for n in nodes), "every asset shows a materialization in the UI"
