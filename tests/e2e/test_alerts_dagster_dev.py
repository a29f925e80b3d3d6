"""Under a real `dagster dev` (its daemon ticking the sensors), failures reach the lake's alert sink.

A check that fails and a run that fails before the UI starts are sent on the sensors' first tick.
The code location, its resources and the sink are the project's own, built from the settings as
in production. (That a later failure waits at most one tick, 30 s, is the sensors' interval;
tests/pipeline/monitoring/test_alerts.py evaluates tick after tick.)
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from retail_assets.definitions import defs
from retail_assets.defs.asset_keys import FEATURES, RELEASE
from tests.helpers.paths import REPO as REPO_ROOT
from tests.helpers.processes import DAGSTER_DEV_START_SECONDS, free_port, stop_process_group, wait_until

REPO = REPO_ROOT


def test_failures_reach_the_alert_sink_on_the_first_tick_of_dagster_dev(tmp_path, monkeypatch):
    lake, home, port = tmp_path / "lake", tmp_path / "dagster_home", free_port()
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    for name, value in {"RETAIL_LAKE": str(lake), "DAGSTER_HOME": str(home), "RETAIL_DAGSTER_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RETAIL_MODE", raising=False)
    # On an empty lake the release smoke check fails (nothing is released) and the feature
    # table's run fails (no gold yet): two real failures of the project's own graph.
    smoke_check = dg.define_asset_job("smoke_check", selection=dg.AssetSelection.checks(dg.AssetCheckKey(RELEASE, "released_model_answers")))
    definitions = dg.Definitions.merge(defs(), dg.Definitions(jobs=[smoke_check]))
    instance = dg.DagsterInstance.from_config(str(home))
    checked = definitions.resolve_job_def("smoke_check").execute_in_process(instance=instance)
    assert [e.passed for e in checked.get_asset_check_evaluations()] == [False]
    failed = definitions.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, asset_selection=[FEATURES], raise_on_error=False)
    assert not failed.success

    def alerts() -> dict[str, dict]:
        found = [json.loads(p.read_text()) for p in sorted((lake / "alerts").rglob("*.jsonl"))]
        return {a["alert_id"]: a for a in found}

    log = (tmp_path / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until(lambda: len(alerts()) == 2, timeout=DAGSTER_DEV_START_SECONDS, what="the first alerts from dagster dev", process=process)
    finally:
        stop_process_group(process)
        log.close()
    sent = alerts()
    check = sent[f"asset_check/api_release/released_model_answers/-/{checked.run_id}"]
    assert (check["passed"], check["severity"]) == (False, "ERROR")
    assert check["message"] == "released_model_answers on api_release failed (ERROR): reason=nothing is released in the registry"
    assert check["url"] == f"http://127.0.0.1:{port}/runs/{checked.run_id}"
    alert = sent[f"run_failure/{failed.run_id}"]
    assert (alert["name"], alert["url"]) == ("__ASSET_JOB", f"http://127.0.0.1:{port}/runs/{failed.run_id}")
    assert "basket_features: retail_assets.lake.tables.MissingUpstreamError: the gold table has no data yet" in alert["message"]
