"""Which Dagster outcomes become alerts, and the cursors that make each one go out exactly once.

The forwarding sensors (retail_assets/defs/monitoring/alerting.py) read Dagster's records and turn
them into the plain values below; this module decides what to send and how far each cursor may
move. A cursor only moves past what the sink took, so a sink outage delays alerts and never
drops or repeats one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from retail_assets.alerts.sink import ASSET_CHECK, FRESHNESS, RUN_FAILURE, Alert, AlertDeliveryError, AlertSink

# On its very first tick a sensor forwards the last day's outcomes, not the instance's whole past.
FIRST_TICK_LOOKBACK_SECONDS = 24 * 3600
PASSED, FAILED, RUNNING, NOT_RUN = "passed", "failed", "running", "not_run"


@dataclass(frozen=True)
class DagsterLinks:
    """Addresses in the Dagster UI (RETAIL_DAGSTER_URL), so an alert leads straight to the run."""

    base_url: str

    def run(self, run_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/runs/{run_id}"

    def asset(self, asset: str) -> str:
        return f"{self.base_url.rstrip('/')}/assets/{asset}"


@dataclass(frozen=True)
class CheckExecution:
    """One asset-check execution as the event log records it."""

    id: int  # the storage's id of the execution: grows with every new execution
    asset: str
    check: str
    run_id: str
    state: str  # PASSED | FAILED | RUNNING (planned, run still going) | NOT_RUN (run ended first)
    severity: str = "ERROR"
    partition: str | None = None
    description: str = ""
    details: dict[str, str] = field(default_factory=dict)  # a few metadata values for the message
    at: float = 0.0  # unix time of the evaluation


@dataclass(frozen=True)
class CheckCursor:
    """Every execution id <= `after` is dealt with, and so are the ids in `handled`. `failing` is
    what fails right now, {asset: {check: {partition: severity}}} (see states.py)."""

    after: int = 0
    handled: tuple[int, ...] = ()
    since: float | None = None  # the sensor's first tick; None before it
    failing: dict = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, text: str | None) -> CheckCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(data["after"], tuple(data.get("handled", ())), data.get("since"), data.get("failing", {}))

    def serialize(self) -> str:
        return json.dumps({"after": self.after, "handled": sorted(self.handled), "since": self.since, "failing": self.failing}, sort_keys=True)


@dataclass(frozen=True)
class CheckPlan:
    alerts: list[tuple[int, Alert]]  # by execution id, oldest first
    quiet: set[int]  # settled executions that need no alert (a pass, a check that never ran)
    seen: set[int]  # every execution newer than the cursor

    def first(self, count: int) -> CheckPlan:
        """Only the `count` oldest alerts, and what lies before the last of them: a backlog larger
        than one tick should send goes out over the following ticks, oldest first."""
        if len(self.alerts) <= count:
            return self
        last = self.alerts[count - 1][0]
        return CheckPlan(self.alerts[:count], {i for i in self.quiet if i <= last}, {i for i in self.seen if i <= last})


def plan_check_alerts(
    histories: Iterable[Sequence[CheckExecution]], cursor: CheckCursor, links: DagsterLinks, since: float
) -> CheckPlan:
    """Alerts for executions newer than the cursor: every failure, and a pass right after a failure
    of the same check and partition (a recovery). `histories` are per check, newest first, reaching
    at least one settled execution back past the cursor (the predecessor of the oldest new one).
    Executions from before `since` (the first tick) minus the lookback are passed over quietly."""
    alerts, quiet, seen = [], set(), set()
    not_before = since - FIRST_TICK_LOOKBACK_SECONDS
    for history in histories:
        for index, execution in enumerate(history):
            if execution.id <= cursor.after:
                break
            seen.add(execution.id)
            if execution.id in cursor.handled or execution.state == RUNNING:
                continue
            previous = _previous_evaluation(history[index + 1 :], execution.partition)
            alert = _check_alert(execution, previous, links)
            if alert is None or execution.at < not_before:
                quiet.add(execution.id)
            else:
                alerts.append((execution.id, alert))
    return CheckPlan(sorted(alerts, key=lambda pair: pair[0]), quiet, seen)


def next_check_cursor(
    cursor: CheckCursor, plan: CheckPlan, delivered: Iterable[int], since: float, failing: dict | None = None
) -> CheckCursor:
    """Move `after` up to the first execution still open (running, or its alert not delivered)."""
    done = set(cursor.handled) | plan.quiet | set(delivered)
    open_ids = sorted(i for i in plan.seen if i not in done)
    highest = max(plan.seen, default=cursor.after)
    after = max(cursor.after, open_ids[0] - 1 if open_ids else highest)
    handled = tuple(sorted(i for i in done if i > after))
    return CheckCursor(after, handled, since, cursor.failing if failing is None else failing)


def _previous_evaluation(older: Sequence[CheckExecution], partition: str | None) -> CheckExecution | None:
    return next((e for e in older if e.partition == partition and e.state in (PASSED, FAILED)), None)


def _check_alert(execution: CheckExecution, previous: CheckExecution | None, links: DagsterLinks) -> Alert | None:
    where = f"{execution.check} on {execution.asset}" + (f" [{execution.partition}]" if execution.partition else "")
    if execution.state == FAILED:
        detail = "; ".join(filter(None, [execution.description, *(f"{k}={v}" for k, v in execution.details.items())]))
        message, passed, severity = f"{where} failed ({execution.severity})" + (f": {detail}" if detail else ""), False, execution.severity
    elif execution.state == PASSED and previous is not None and previous.state == FAILED:
        message, passed, severity = f"{where} passes again (it failed in run {previous.run_id[:8]})", True, previous.severity
    else:
        return None
    return Alert(
        alert_id=f"{ASSET_CHECK}/{execution.asset}/{execution.check}/{execution.partition or '-'}/{execution.run_id}",
        kind=ASSET_CHECK,
        name=execution.check,
        asset=execution.asset,
        severity=severity,
        passed=passed,
        message=message[:1000],
        run_id=execution.run_id,
        url=links.run(execution.run_id),
        occurred_at=_iso(execution.at),
    )


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job: str
    message: str  # the run's failure message
    errors: list[str] = field(default_factory=list)  # "step: first line of its error"
    at: float = 0.0


def run_failure_alert(failure: RunFailure, links: DagsterLinks) -> Alert:
    detail = "; ".join(failure.errors[:3])
    return Alert(
        alert_id=f"{RUN_FAILURE}/{failure.run_id}",
        kind=RUN_FAILURE,
        name=failure.job,
        asset=None,
        severity="ERROR",
        passed=False,
        message=(f"run {failure.run_id[:8]} of {failure.job} failed: {failure.message}" + (f" ({detail})" if detail else ""))[:1000],
        run_id=failure.run_id,
        url=links.run(failure.run_id),
        occurred_at=_iso(failure.at),
    )


@dataclass(frozen=True)
class FreshnessReading:
    asset: str
    state: str  # Dagster's FreshnessState: PASS | WARN | FAIL | UNKNOWN
    changed_at: float  # when the asset entered this state


def freshness_alerts(
    readings: Sequence[FreshnessReading], known: dict[str, list], links: DagsterLinks
) -> tuple[list[Alert], dict[str, list]]:
    """Alerts for assets whose freshness state changed since `known` ({asset: [state, changed_at]}),
    and the new `known`. WARN and FAIL alert; PASS after either is a recovery; UNKNOWN is quiet."""
    alerts, updated = [], dict(known)
    for reading in readings:
        before = known.get(reading.asset)
        if before is not None and before[1] == reading.changed_at:
            continue
        updated[reading.asset] = [reading.state, reading.changed_at]
        previous_state = before[0] if before else None
        if reading.state in ("WARN", "FAIL"):
            severity, passed, message = ("ERROR" if reading.state == "FAIL" else "WARN"), False, f"{reading.asset} missed its freshness policy ({reading.state})"
        elif reading.state == "PASS" and previous_state in ("WARN", "FAIL"):
            severity, passed, message = ("ERROR" if previous_state == "FAIL" else "WARN"), True, f"{reading.asset} is fresh again"
        else:
            continue
        alerts.append(
            Alert(
                alert_id=f"{FRESHNESS}/{reading.asset}/{reading.state}/{reading.changed_at}",
                kind=FRESHNESS,
                name=reading.state,
                asset=reading.asset,
                severity=severity,
                passed=passed,
                message=message + f" (since {_iso(reading.changed_at)})",
                url=links.asset(reading.asset),
                occurred_at=_iso(reading.changed_at),
            )
        )
    return alerts, updated


def deliver(sink: AlertSink, alerts: Sequence[Alert]) -> tuple[int, AlertDeliveryError | None]:
    """Send in batches the sink takes whole; stop at the first refusal. Returns how many went out."""
    sent = 0
    for start in range(0, len(alerts), sink.max_batch):
        batch = alerts[start : start + sink.max_batch]
        try:
            sink.send(batch)
        except AlertDeliveryError as error:
            return sent, error
        sent += len(batch)
    return sent, None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")  # two outcomes a second apart keep their order
