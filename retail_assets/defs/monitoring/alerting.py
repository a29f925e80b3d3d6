"""Sensors that forward Dagster's outcomes to the alert sink: check evaluations, freshness, failed runs.

Open-source Dagster shows these only in its UI. Each sensor keeps a cursor on the event log and
moves it only past what the sink took (retail_assets/alerts/forwarding.py), so an alert reaches
the sink within one tick of the outcome, exactly once, across restarts and sink outages. The
APIs used work on every instance storage (SQLite as `dagster dev` runs it, Postgres on EKS).
"""

import json
import time

import dagster as dg

from retail_assets.alerts.forwarding import (
    FAILED,
    FIRST_TICK_LOOKBACK_SECONDS,
    NOT_RUN,
    PASSED,
    RUNNING,
    CheckCursor,
    CheckExecution,
    DagsterLinks,
    FreshnessReading,
    RunFailure,
    deliver,
    freshness_alerts,
    next_check_cursor,
    plan_check_alerts,
    run_failure_alert,
)
from retail_assets.alerts.sink import AlertDeliveryError, AlertSink, Measurement
from retail_assets.alerts.states import check_gauges, freshness_gauges, update_failing

_PAGE = 500
_MAX_CHECK_ALERTS = 2000  # per tick: a larger backlog goes out over the following ticks, oldest first
_MAX_RUN_PAGES = 20  # run failures per tick, in pages of the sink's batch; the event cursor keeps the rest
_DETAIL_KEYS = 5


@dg.sensor(
    name="asset_check_alerts",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends every failed asset check, and its recovery, to the alert sink once (CloudWatch in aws mode), and each check's state as a metric.",
)
def asset_check_alerts(
    context: dg.SensorEvaluationContext, alert_sink: dg.ResourceParam[AlertSink], dagster_links: dg.ResourceParam[DagsterLinks]
) -> dg.SensorResult:
    cursor = CheckCursor.parse(context.cursor)
    since = cursor.since if cursor.since is not None else time.time()
    runs: dict[str, dg.DagsterRun | None] = {}
    keys = sorted(context.repository_def.asset_graph.asset_check_keys, key=lambda k: k.to_user_string())
    histories = [_history(context.instance, key, cursor, since - FIRST_TICK_LOOKBACK_SECONDS, runs) for key in keys]
    plan = plan_check_alerts(histories, cursor, dagster_links, since).first(_MAX_CHECK_ALERTS)
    sent, error = deliver(alert_sink, [alert for _, alert in plan.alerts])
    failing = update_failing(cursor.failing, histories)
    following = next_check_cursor(cursor, plan, [execution_id for execution_id, _ in plan.alerts[:sent]], since, failing)
    # The alarm watches the state, not the alerts: a check failing for hours is reported every tick.
    _record(context, alert_sink, check_gauges([(k.asset_key.to_user_string(), k.name) for k in keys], failing), "check states")
    return dg.SensorResult(cursor=following.serialize(), skip_reason=_outcome(context, alert_sink, sent, len(plan.alerts), error))


@dg.sensor(
    name="run_failure_alerts",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends every failed run to the alert sink once, whether the UI, a sensor, a schedule or the CLI started it.",
)
def run_failure_alerts(
    context: dg.SensorEvaluationContext, alert_sink: dg.ResourceParam[AlertSink], dagster_links: dg.ResourceParam[DagsterLinks]
) -> dg.SensorResult:
    state = json.loads(context.cursor) if context.cursor else {"events": None, "since": time.time()}
    not_before = state["since"] - FIRST_TICK_LOOKBACK_SECONDS
    sent_total, pending, error = 0, 0, None
    for _ in range(_MAX_RUN_PAGES):
        page = context.instance.fetch_run_status_changes(
            dg.DagsterEventType.RUN_FAILURE, limit=alert_sink.max_batch, cursor=state["events"], ascending=True
        )
        alerts = [run_failure_alert(_run_failure(context.instance, r), dagster_links) for r in page.records if r.timestamp >= not_before]
        sent, error = deliver(alert_sink, alerts)
        sent_total += sent
        if error is not None:  # one page is one send, so nothing of it went out: keep the cursor
            pending = len(alerts)
            break
        state["events"] = page.cursor or state["events"]
        if not page.has_more:
            break
    return dg.SensorResult(cursor=json.dumps(state), skip_reason=_outcome(context, alert_sink, sent_total, sent_total + pending, error))


@dg.sensor(
    name="freshness_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends an asset missing its freshness policy (and fresh again) to the alert sink once, and each asset's state as a metric.",
)
def freshness_alerts_sensor(
    context: dg.SensorEvaluationContext, alert_sink: dg.ResourceParam[AlertSink], dagster_links: dg.ResourceParam[DagsterLinks]
) -> dg.SensorResult:
    graph = context.repository_def.asset_graph
    keys = [key for key in graph.get_all_asset_keys() if graph.get(key).freshness_policy is not None]
    records = context.instance.get_freshness_state_records(keys)
    readings = [
        FreshnessReading(key.to_user_string(), record.freshness_state.value, record.updated_at.timestamp())
        for key, record in sorted(records.items(), key=lambda item: item[0].to_user_string())
    ]
    known = json.loads(context.cursor) if context.cursor else {}
    alerts, updated = freshness_alerts(readings, known, dagster_links)
    sent, error = deliver(alert_sink, alerts)
    for alert in alerts[sent:]:  # not delivered: remember the old state, so the change is sent again
        updated[alert.asset] = known.get(alert.asset)
    following = {asset: value for asset, value in updated.items() if value is not None}
    # The alarm needs the state every period, not only its changes.
    _record(context, alert_sink, freshness_gauges({r.asset: r.state for r in readings}), "freshness states")
    return dg.SensorResult(cursor=json.dumps(following, sort_keys=True), skip_reason=_outcome(context, alert_sink, sent, len(alerts), error))


def _record(context: dg.SensorEvaluationContext, sink: AlertSink, gauges: list[Measurement], what: str) -> None:
    try:
        sink.record(gauges)
    except AlertDeliveryError as error:  # the next tick reports the state again; the alarm keeps its state meanwhile
        context.log.warning(f"{what} not recorded this tick: {error}")


def _history(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, cursor: CheckCursor, not_before: float, runs: dict
) -> list[CheckExecution]:
    """The check's executions newer than the cursor, newest first, plus the settled one before them.

    Every page down to the cursor: the history comes newest first, so the oldest unsent execution
    is on the last page, and the cursor may only move past what was read."""
    found, page_cursor = [], None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(key, limit=_PAGE, cursor=page_cursor)
        found.extend(_execution(instance, record, runs) for record in page)
        reached_cursor = any(e.id <= cursor.after and e.state in (PASSED, FAILED) for e in found[-len(page):])
        if len(page) < _PAGE or reached_cursor or found[-1].at < not_before:
            return found
        page_cursor = page[-1].id


def _execution(instance: dg.DagsterInstance, record, runs: dict) -> CheckExecution:
    key = record.key
    base = {"id": record.id, "asset": key.asset_key.to_user_string(), "check": key.name, "run_id": record.run_id, "partition": record.partition}
    at = record.event.timestamp if record.event is not None else record.create_timestamp
    if record.status.value == "PLANNED":  # planned, and no evaluation (yet): is its run still going?
        if record.run_id not in runs:
            runs[record.run_id] = instance.get_run_by_id(record.run_id)
        run = runs[record.run_id]
        return CheckExecution(**base, state=RUNNING if run is not None and not run.is_finished else NOT_RUN, at=at)
    evaluation = record.evaluation
    details = {
        name: str(value.value)
        for name, value in list(evaluation.metadata.items())
        if isinstance(value.value, str | int | float | bool) and len(str(value.value)) <= 200
    }
    return CheckExecution(
        **base,
        state=PASSED if evaluation.passed else FAILED,
        severity=evaluation.severity.value,
        description=evaluation.description or "",
        details=dict(list(details.items())[:_DETAIL_KEYS]),
        at=at,
    )


def _run_failure(instance: dg.DagsterInstance, record) -> RunFailure:
    entry = record.event_log_entry
    run = instance.get_run_by_id(entry.run_id)
    errors = []
    for step in instance.get_records_for_run(entry.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
        event = step.event_log_entry.dagster_event
        error = event.step_failure_data.error if event is not None else None
        while error is not None and error.cause is not None:  # Dagster wraps the asset's own exception
            error = error.cause
        if error is not None:
            errors.append(f"{event.step_key}: {error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name}")
    job = run.job_name if run is not None else entry.job_name or "unknown job"
    message = entry.dagster_event.message if entry.dagster_event is not None and entry.dagster_event.message else "the run failed"
    return RunFailure(entry.run_id, job, message, errors, record.timestamp)


def _outcome(context: dg.SensorEvaluationContext, sink: AlertSink, sent: int, planned: int, error: Exception | None) -> str:
    if error is not None:
        # The tick itself succeeds, so the cursor (what was delivered) is kept; the rest waits.
        context.log.error(f"{sink.destination} refused alerts: {error}")
        return f"sent {sent} of {planned} alert(s) to {sink.destination}; the rest are retried next tick ({error})"
    return f"sent {sent} alert(s) to {sink.destination}" if sent else "nothing new to send"
