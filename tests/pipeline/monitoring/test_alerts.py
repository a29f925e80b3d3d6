"""Alert forwarding: failed checks, recoveries, failed runs and freshness changes reach the sink
exactly once, through restarts (a new sensor evaluation from the stored cursor) and sink outages.

The sensors run against a real Dagster instance on its default storage (run-sharded SQLite, as
`dagster dev` uses) and in-process runs of small assets whose check fails on demand (one asset
per test, so the tests share the instance without seeing each other's checks); the sink is the
lake's JSONL sink on a disk.
"""


import json
from collections.abc import Sequence

import dagster as dg
import polars as pl
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from retail_assets.alerts.forwarding import (
    FAILED,
    PASSED,
    RUNNING,
    CheckCursor,
    CheckExecution,
    next_check_cursor,
    plan_check_alerts,
)
from retail_assets.alerts.sink import Alert, AlertDeliveryError, LakeAlertSink, Measurement
from retail_assets.defs.monitoring.alerting import asset_check_alerts, freshness_alerts_sensor, run_failure_alerts
from retail_model.lake import LocalLake
from tests.helpers.alerting import LINKS, orders_asset

class SwitchableSink(LakeAlertSink):
    """The lake sink, with an outage switch and a count of the sends it refused."""

    def __init__(self, lake, max_batch: int = 500) -> None:
        super().__init__(lake)
        self.max_batch = max_batch
        self.down = False
        self.fail_after_sends: int | None = None  # refuse every send after this many succeeded
        self.sends = 0
        self.recorded: list[Measurement] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        if self.down or (self.fail_after_sends is not None and self.sends >= self.fail_after_sends):
            raise AlertDeliveryError("the sink is unreachable (test outage)")
        super().send(alerts)
        self.sends += 1

    def record(self, measurements: Sequence[Measurement]) -> None:
        self.recorded.extend(measurements)


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def orders(request) -> dg.AssetsDefinition:
    return orders_asset(f"orders_{request.node.name.removeprefix('test_')[:40]}")


@pytest.fixture
def sink(tmp_path) -> SwitchableSink:
    return SwitchableSink(LocalLake(tmp_path / "lake"))


def definitions(sink, orders) -> dg.Definitions:
    return dg.Definitions(
        assets=[orders],
        sensors=[asset_check_alerts, run_failure_alerts, freshness_alerts_sensor],
        resources={"alert_sink": sink, "dagster_links": LINKS},
    )


def materialize(instance, orders, passed: bool = True, crash: bool = False) -> str:
    config = {"ops": {orders.key.to_user_string(): {"config": {"passed": passed, "crash": crash}}}}
    return dg.materialize([orders], instance=instance, run_config=config, raise_on_error=False).run_id


def tick(sensor, instance, sink, orders, cursor: str | None) -> tuple[str | None, str]:
    """One sensor evaluation, as the daemon does it after a restart: only the stored cursor carries over."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions(sink, orders), resources={"alert_sink": sink, "dagster_links": LINKS})
    result = sensor(context)
    return result.cursor, result.skip_reason.skip_message if result.skip_reason else ""


def stored_alerts(sink: LakeAlertSink) -> list[dict]:
    files = sink.lake.list_objects("alerts")
    return sorted((json.loads(sink.lake.read_bytes(f.key)) for f in files), key=lambda a: a["occurred_at"])


def test_a_failed_check_reaches_the_sink_once_with_a_link_to_its_run(instance, sink, orders):
    cursor, said = tick(asset_check_alerts, instance, sink, orders, None)
    assert said == "nothing new to send" and stored_alerts(sink) == []
    run_id = materialize(instance, orders, passed=False)

    cursor, said = tick(asset_check_alerts, instance, sink, orders, cursor)
    assert said.startswith("sent 1 alert(s)")
    [alert] = stored_alerts(sink)
    assert (alert["kind"], alert["asset"], alert["name"], alert["severity"], alert["passed"]) == ("asset_check", orders.key.to_user_string(), "orders_have_rows", "ERROR", False)
    assert alert["run_id"] == run_id and alert["url"] == f"http://dagster.example:3000/runs/{run_id}"
    assert "row count checked" in alert["message"] and "rows=0" in alert["message"]
    # The JSONL is readable as one table, as docs/monitoring.md shows.
    table = pl.read_ndjson(sink.lake.uri_of("alerts") + "/**/*.jsonl")
    assert table.height == 1 and table["alert_id"][0] == alert["alert_id"]

    for _ in range(2):  # later ticks, and a restarted sensor reading the stored cursor, add nothing
        cursor, said = tick(asset_check_alerts, instance, sink, orders, cursor)
        assert said == "nothing new to send"
    assert len(stored_alerts(sink)) == 1


def test_a_recovery_is_recorded_and_a_plain_pass_is_not(instance, sink, orders):
    cursor, _ = tick(asset_check_alerts, instance, sink, orders, None)
    materialize(instance, orders, passed=True)
    failing = materialize(instance, orders, passed=False)
    recovered = materialize(instance, orders, passed=True)
    tick(asset_check_alerts, instance, sink, orders, cursor)
    alerts = stored_alerts(sink)
    assert [(a["passed"], a["run_id"]) for a in alerts] == [(False, failing), (True, recovered)]
    assert alerts[1]["message"] == f"orders_have_rows on {orders.key.to_user_string()} passes again (it failed in run {failing[:8]})"
    assert alerts[1]["severity"] == "ERROR"  # the severity of what recovered


def test_a_sink_outage_delays_alerts_and_never_loses_or_repeats_one(instance, sink, orders):
    cursor, _ = tick(asset_check_alerts, instance, sink, orders, None)
    first = materialize(instance, orders, passed=False)
    sink.down = True
    cursor, said = tick(asset_check_alerts, instance, sink, orders, cursor)
    assert "sent 0 of 1" in said and "retried next tick" in said
    second = materialize(instance, orders, passed=False)
    cursor, said = tick(asset_check_alerts, instance, sink, orders, cursor)  # still down: both wait
    assert "sent 0 of 2" in said and stored_alerts(sink) == []

    sink.down = False
    cursor, said = tick(asset_check_alerts, instance, sink, orders, cursor)
    assert said.startswith("sent 2 alert(s)")
    assert [a["run_id"] for a in stored_alerts(sink)] == [first, second]
    cursor, said = tick(asset_check_alerts, instance, sink, orders, cursor)
    assert said == "nothing new to send" and len(stored_alerts(sink)) == 2


def test_an_outage_in_the_middle_of_a_backlog_resends_nothing_already_delivered(instance, sink, orders):
    cursor, _ = tick(asset_check_alerts, instance, sink, orders, None)
    runs = [materialize(instance, orders, passed=False) for _ in range(2)]
    sink.max_batch, sink.fail_after_sends = 1, 1  # one alert per send; the second send fails
    cursor, said = tick(asset_check_alerts, instance, sink, orders, cursor)
    assert "sent 1 of 2" in said
    sink.fail_after_sends = None
    cursor, said = tick(asset_check_alerts, instance, sink, orders, cursor)
    assert said.startswith("sent 1 alert(s)")
    assert [a["run_id"] for a in stored_alerts(sink)] == runs
    assert sink.sends == 2


def test_a_failed_run_reaches_the_sink_once_with_its_error(instance, sink, orders):
    cursor, said = tick(run_failure_alerts, instance, sink, orders, None)
    assert said == "nothing new to send"
    run_id = materialize(instance, orders, crash=True)
    materialize(instance, orders, passed=True)  # a successful run raises nothing
    sink.down = True
    cursor, said = tick(run_failure_alerts, instance, sink, orders, cursor)
    assert "retried next tick" in said
    sink.down = False
    cursor, said = tick(run_failure_alerts, instance, sink, orders, cursor)
    [alert] = stored_alerts(sink)
    assert (alert["kind"], alert["run_id"], alert["severity"]) == ("run_failure", run_id, "ERROR")
    assert alert["name"] == instance.get_run_by_id(run_id).job_name and alert["url"].endswith(f"/runs/{run_id}")
    assert f"{orders.key.to_user_string()}: RuntimeError: the source database refused the connection" in alert["message"]
    cursor, said = tick(run_failure_alerts, instance, sink, orders, cursor)
    assert said == "nothing new to send" and len(stored_alerts(sink)) == 1


def test_freshness_changes_are_sent_once_and_states_recorded_every_tick(instance, sink):
    """The freshness daemon (run by `dagster dev`) reports state changes as runless events; here
    the test reports them the same way, with Dagster's own event type."""
    key = dg.AssetKey("gold_baskets")
    definitions_with_policy = dg.Definitions(
        assets=[dg.AssetSpec(key, freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dg_days(8), warn_window=dg_days(7)))],
        sensors=[freshness_alerts_sensor],
        resources={"alert_sink": sink, "dagster_links": LINKS},
    )

    def freshness_tick(cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions_with_policy, resources={"alert_sink": sink, "dagster_links": LINKS})
        result = freshness_alerts_sensor(context)
        return result.cursor, result.skip_reason.skip_message

    def change(previous, new, at):
        instance.report_runless_asset_event(FreshnessStateChange(key=key, previous_state=previous, new_state=new, state_change_timestamp=at))

    change(FreshnessState.UNKNOWN, FreshnessState.PASS, 1_700_000_000.0)
    cursor, said = freshness_tick(None)
    assert said == "nothing new to send"
    change(FreshnessState.PASS, FreshnessState.FAIL, 1_700_000_100.0)
    sink.down = True
    cursor, said = freshness_tick(cursor)
    assert "retried next tick" in said
    sink.down = False
    cursor, _ = freshness_tick(cursor)
    cursor, said = freshness_tick(cursor)
    assert said == "nothing new to send"
    change(FreshnessState.FAIL, FreshnessState.PASS, 1_700_000_200.0)
    freshness_tick(cursor)
    alerts = stored_alerts(sink)
    assert [(a["name"], a["passed"], a["severity"]) for a in alerts] == [("FAIL", False, "ERROR"), ("PASS", True, "ERROR")]
    assert alerts[0]["url"] == "http://dagster.example:3000/assets/gold_baskets"
    assert alerts[0]["message"].startswith("gold_baskets missed its freshness policy (FAIL)")
    gauges = [(m.name, m.value, dict(m.dimensions)) for m in sink.recorded]
    assert gauges[-1] == ("FreshnessFailing", 0.0, {"Asset": "gold_baskets"})
    assert ("FreshnessFailing", 1.0, {"Asset": "gold_baskets"}) in gauges


def dg_days(days: int):
    from datetime import timedelta

    return timedelta(days=days)


# --- The cursor rules, on plain values ---------------------------------------------------------


def execution(id_: int, state: str, run: str, at: float = 1_000_000.0) -> CheckExecution:
    return CheckExecution(id=id_, asset="gold_baskets", check="gold_basket_ids_unique", run_id=run, state=state, at=at)


def test_a_check_still_running_holds_the_cursor_until_it_settles():
    cursor = CheckCursor(after=4, since=1_000_000.0)
    # Newest first: 6 failed (delivered now), 5 still running, 4 passed (already dealt with).
    history = [execution(6, FAILED, "run-6"), execution(5, RUNNING, "run-5"), execution(4, PASSED, "run-4")]
    plan = plan_check_alerts([history], cursor, LINKS, since=1_000_000.0)
    assert [i for i, _ in plan.alerts] == [6]
    cursor = next_check_cursor(cursor, plan, [6], since=1_000_000.0)
    assert (cursor.after, cursor.handled) == (4, (6,))

    history = [execution(6, FAILED, "run-6"), execution(5, FAILED, "run-5"), execution(4, PASSED, "run-4")]
    plan = plan_check_alerts([history], cursor, LINKS, since=1_000_000.0)
    assert [i for i, _ in plan.alerts] == [5]  # 6 is not sent again
    cursor = next_check_cursor(cursor, plan, [5], since=1_000_000.0)
    assert (cursor.after, cursor.handled) == (6, ())
    assert CheckCursor.parse(cursor.serialize()) == cursor


def test_the_first_tick_forwards_the_last_day_not_the_whole_history():
    since = 10_000_000.0
    history = [execution(2, FAILED, "recent", at=since - 3600), execution(1, FAILED, "last-month", at=since - 30 * 86400)]
    plan = plan_check_alerts([history], CheckCursor(), LINKS, since=since)
    assert [alert.run_id for _, alert in plan.alerts] == ["recent"]
    assert plan.quiet == {1}


class RecordingLakeSink(LakeAlertSink):
    """The lake sink, remembering the order in which alerts reached it."""

    def __init__(self, lake) -> None:
        super().__init__(lake)
        self.order: list[str] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        super().send(alerts)
        self.order.extend(a.run_id for a in alerts)


def write_check_executions(instance, key: dg.AssetCheckKey, count: int) -> list[str]:
    """`count` settled executions of one check, failing and passing by turns, written straight into
    the instance's event log storage (one insert: reporting 10,000 evaluations one by one takes
    minutes). Each copies the row Dagster itself stored for a reported evaluation, under its own run id."""
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable

    template = dg.AssetCheckKey(key.asset_key, "template_for_backlog")
    for passed in (False, True):
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(asset_key=key.asset_key, check_name=template.name, passed=passed))
    storage = instance.event_log_storage
    failed, passed = sorted(storage.get_asset_check_execution_history(template, limit=2), key=lambda r: r.id)
    columns = ("asset_key", "partition", "execution_status", "evaluation_event", "evaluation_event_timestamp", "evaluation_event_storage_id", "create_timestamp")
    with storage.index_connection() as conn:
        rows = {
            r.id: dict(r._mapping)
            for r in conn.execute(AssetCheckExecutionsTable.select().where(AssetCheckExecutionsTable.c.id.in_([failed.id, passed.id])))
        }
        run_ids = [f"backlog-{i:05d}" for i in range(count)]
        conn.execute(
            AssetCheckExecutionsTable.insert(),
            [
                {**{c: rows[(failed if i % 2 == 0 else passed).id][c] for c in columns}, "check_name": key.name, "run_id": run_id}
                for i, run_id in enumerate(run_ids)
            ],
        )
    return run_ids


def test_a_backlog_of_ten_thousand_executions_drains_in_order_once_each(instance, tmp_path):
    orders = orders_asset("orders_backlog")
    sink = RecordingLakeSink(LocalLake(tmp_path / "lake"))
    cursor, said = tick(asset_check_alerts, instance, sink, orders, None)
    assert said == "nothing new to send"
    run_ids = write_check_executions(instance, dg.AssetCheckKey(orders.key, "orders_have_rows"), 10_000)

    ticks = []
    for _ in range(10):
        cursor, said = tick(asset_check_alerts, instance, sink, orders, cursor)
        ticks.append(said)
        if said == "nothing new to send":
            break
    assert ticks[:-1] == ["sent 2000 alert(s) to " + sink.destination] * 5 and ticks[-1] == "nothing new to send", ticks
    assert sink.order == run_ids  # every execution once, oldest first: failures and their recoveries by turns
    assert len(sink.lake.list_objects("alerts")) == 10_000
    assert len(cursor) < 2_000, "the cursor stays small however large the backlog was"


def test_a_check_fails_while_any_partitions_latest_evaluation_failed():
    from retail_assets.alerts.states import check_gauges, update_failing

    def run(id_, state, partition, severity="ERROR"):
        return CheckExecution(id=id_, asset="raw_transactions", check="landed_files_readable", run_id=f"r{id_}", state=state, severity=severity, partition=partition)

    failing = update_failing({}, [[run(2, PASSED, "200608"), run(1, FAILED, "200607")]])
    assert failing == {"raw_transactions": {"landed_files_readable": {"200607": "ERROR"}}}  # another week passing cures nothing
    failing = update_failing(failing, [[run(4, RUNNING, "200607"), run(3, FAILED, "200608", "WARN")]])  # a run still going changes nothing
    gauges = {m.dimensions["Severity"]: m.value for m in check_gauges([("raw_transactions", "landed_files_readable")], failing)}
    assert gauges == {"ERROR": 1.0, "WARN": 1.0}
    failing = update_failing(failing, [[run(6, PASSED, "200608"), run(5, PASSED, "200607")]])
    assert failing == {}
    assert [m.value for m in check_gauges([("raw_transactions", "landed_files_readable")], failing)] == [0.0, 0.0]
