"""CloudWatch alarm evaluation, modelled from CloudWatch's documentation, because moto stores
alarms but never evaluates them (no state changes, no notifications).

What is modelled, as the Amazon CloudWatch User Guide describes it ("Alarm evaluation" and
"Configuring how CloudWatch alarms treat missing data"):

- Every `Period` the alarm's metric is one data point: here a Metrics Insights query, whose
  aggregate function (SUM, MAX, MIN, AVG, COUNT) runs over every value of every series that
  `SCHEMA("<namespace>", <dimensions>)` selects (exactly those dimension names) and that the
  `WHERE <dimension> = '<value>'` filter keeps, within the period.
- The alarm looks at the latest `EvaluationPeriods` (N) data points; it is in ALARM when at least
  `DatapointsToAlarm` (M, default N) of them breach `Threshold` by `ComparisonOperator`, else OK.
- A period without data is treated as `TreatMissingData` says: `notBreaching` counts it as within
  the threshold, `breaching` as breaching; with `ignore` the alarm keeps its current state when
  every data point it looks at is missing, and with `missing` it goes to INSUFFICIENT_DATA then.
  With some points present, `ignore` and `missing` judge the present ones (CloudWatch may look
  further back into its "evaluation range"; not needed here: the alarms under test have N = 1).
- A new alarm is in INSUFFICIENT_DATA. Actions run on a change of state: `AlarmActions` on
  entering ALARM, `OKActions` on entering OK.

A data point counts in the period in which it arrived: the sink sends no timestamp, so CloudWatch
stamps each value on arrival. Late data re-evaluation and evaluation delays are not modelled.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_QUERY = re.compile(
    r"""SELECT\s+(?P<function>SUM|MAX|MIN|AVG|COUNT)\((?P<metric>\w+)\)\s+FROM\s+SCHEMA\(\s*"(?P<namespace>[^"]+)"\s*(?:,(?P<dimensions>[\w\s,]+))?\)"""
    r"""(?:\s+WHERE\s+(?P<key>\w+)\s*=\s*'(?P<value>[^']*)')?\s*$"""
)
_COMPARE = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_AGGREGATE = {"SUM": sum, "MAX": max, "MIN": min, "AVG": lambda v: sum(v) / len(v), "COUNT": len}


@dataclass(frozen=True)
class Datum:
    """One value CloudWatch accepted, at the (virtual) second it arrived."""

    at: float
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    value: float


@dataclass(frozen=True)
class Alarm:
    name: str
    expression: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str
    alarm_actions: bool
    ok_actions: bool

    @classmethod
    def from_cloudwatch(cls, described: dict) -> Alarm:
        """From a DescribeAlarms `MetricAlarms` entry (a single Metrics Insights query)."""
        [query] = [q for q in described["Metrics"] if q.get("ReturnData", True)]
        return cls(
            name=described["AlarmName"],
            expression=query["Expression"],
            period=query["Period"],
            evaluation_periods=described["EvaluationPeriods"],
            datapoints_to_alarm=described.get("DatapointsToAlarm") or described["EvaluationPeriods"],
            threshold=float(described["Threshold"]),
            comparison=described["ComparisonOperator"],
            treat_missing_data=described.get("TreatMissingData", "missing"),
            alarm_actions=bool(described.get("AlarmActions")),
            ok_actions=bool(described.get("OKActions")),
        )

    @classmethod
    def from_terraform(cls, body: dict, namespace: str, name: str) -> Alarm:
        """From an `aws_cloudwatch_metric_alarm` block as python-hcl2 reads it."""
        [query] = [q for q in body["metric_query"] if q.get("return_data", True)]
        return cls(
            name=name,
            expression=query["expression"].replace("${var.metric_namespace}", namespace).replace('\\"', '"'),
            period=int(query["period"]),
            evaluation_periods=int(body["evaluation_periods"]),
            datapoints_to_alarm=int(body.get("datapoints_to_alarm") or body["evaluation_periods"]),
            threshold=float(body["threshold"]),
            comparison=body["comparison_operator"],
            treat_missing_data=body.get("treat_missing_data", "missing"),
            alarm_actions=bool(body.get("alarm_actions")),
            ok_actions=bool(body.get("ok_actions")),
        )

    def value(self, data: Sequence[Datum], start: float) -> float | None:
        """The query's data point for the period starting at `start`; None when it has no data."""
        match = _QUERY.match(self.expression.strip())
        if match is None:
            raise ValueError(f"{self.name}: not a Metrics Insights query this model reads: {self.expression}")
        names = {d.strip() for d in (match["dimensions"] or "").split(",") if d.strip()}
        values = [
            d.value
            for d in data
            if start <= d.at < start + self.period
            and d.namespace == match["namespace"]
            and d.metric == match["metric"]
            and {k for k, _ in d.dimensions} == names
            and (match["key"] is None or dict(d.dimensions).get(match["key"]) == match["value"])
        ]
        return _AGGREGATE[match["function"]](values) if values else None


@dataclass
class Evaluation:
    """The alarm at the end of one period: its data point, its state, and the notification sent."""

    start: float
    value: float | None
    state: str
    notified: str = ""  # "ALARM" or "OK" when an action ran


@dataclass
class AlarmModel:
    alarm: Alarm
    state: str = "INSUFFICIENT_DATA"
    points: list[float | None] = field(default_factory=list)

    def evaluate(self, data: Sequence[Datum], start: float) -> Evaluation:
        value = self.alarm.value(data, start)
        self.points.append(value)
        window = self.points[-self.alarm.evaluation_periods :]
        breaches = _COMPARE[self.alarm.comparison]
        mode = self.alarm.treat_missing_data
        if all(v is None for v in window) and mode in ("ignore", "missing"):
            new = self.state if mode == "ignore" else "INSUFFICIENT_DATA"
        else:
            if mode == "breaching":
                breaching = sum(v is None or breaches(v, self.alarm.threshold) for v in window)
            else:  # notBreaching: a missing point is fine; ignore/missing: judge the points present
                breaching = sum(v is not None and breaches(v, self.alarm.threshold) for v in window)
            new = "ALARM" if breaching >= self.alarm.datapoints_to_alarm else "OK"
        notified = ""
        if new != self.state:
            if new == "ALARM" and self.alarm.alarm_actions:
                notified = "ALARM"
            elif new == "OK" and self.alarm.ok_actions:
                notified = "OK"
        self.state = new
        return Evaluation(start, value, new, notified)


def run(alarm: Alarm, data: Sequence[Datum], start: float, end: float) -> list[Evaluation]:
    """Evaluate the alarm at the end of every period from `start` (a period boundary) to `end`."""
    model = AlarmModel(alarm)
    return [model.evaluate(data, at) for at in range(int(start), int(end), alarm.period)]
