"""The pipeline's CloudWatch alarms and their SNS topic, created or updated idempotently.

The same alarms as `infra/modules/observability/main.tf` (a test compares the two), for accounts
where Terraform does not run: `retail-mlops alarms sync`. Each alarm aggregates every dimension
value with a Metrics Insights query, so a new asset, check or job is covered without a change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class AlarmSpec:
    suffix: str  # the alarm is named <prefix>-<suffix>
    description: str
    query_id: str
    label: str
    expression: str  # "{namespace}" is filled in
    period: int
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    threshold: float = 1
    comparison: str = "GreaterThanOrEqualToThreshold"
    notify_ok: bool = True  # also tell on-call when the alarm clears
    # A state gauge is reported every tick; no data means the sink (or the daemon) is down, which
    # says nothing about the check: keep the state. An event metric has data only when it happens.
    treat_missing_data: str = "ignore"

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.suffix}"

    def request(self, prefix: str, namespace: str, topic_arn: str) -> dict:
        """The put_metric_alarm arguments."""
        request = {
            "AlarmName": self.name(prefix),
            "AlarmDescription": self.description,
            "ActionsEnabled": True,
            "AlarmActions": [topic_arn],
            "OKActions": [topic_arn] if self.notify_ok else [],
            "EvaluationPeriods": self.evaluation_periods,
            "Threshold": float(self.threshold),
            "ComparisonOperator": self.comparison,
            "TreatMissingData": self.treat_missing_data,
            "Metrics": [
                {
                    "Id": self.query_id,
                    "Label": self.label,
                    "Expression": self.expression.format(namespace=namespace),
                    "Period": self.period,
                    "ReturnData": True,
                }
            ],
        }
        if self.datapoints_to_alarm is not None:
            request["DatapointsToAlarm"] = self.datapoints_to_alarm
        return request


PIPELINE_ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        suffix="asset-check-failed",
        description="A Dagster asset check is failing with Severity ERROR (OK when it passes again). The Asset and Check dimensions on the dashboard say which.",
        query_id="failing",
        label="Failing ERROR checks",
        expression="SELECT MAX(AssetCheckFailing) FROM SCHEMA(\"{namespace}\", Asset, Check, Severity) WHERE Severity = 'ERROR'",
        period=300,
    ),
    AlarmSpec(
        suffix="freshness-failed",
        description="An asset (raw, gold, features or the model) misses its freshness policy: new data is not flowing (OK when it is fresh again).",
        query_id="stale",
        label="Stale assets",
        expression='SELECT MAX(FreshnessFailing) FROM SCHEMA("{namespace}", Asset)',
        period=300,
    ),
    AlarmSpec(
        suffix="run-failed",
        description="A Dagster run failed. Open the run in the Dagster UI (docs/deploy.md, Verify).",
        query_id="failed",
        label="Failed runs",
        expression='SELECT SUM(RunFailed) FROM SCHEMA("{namespace}", Job)',
        period=300,
        notify_ok=False,  # a run failure is an event, not a state: nothing "clears"
        treat_missing_data="notBreaching",  # no data point: no run failed in that period
    ),
    AlarmSpec(
        # The state alarms ignore missing data, so a dead daemon would leave them in their last
        # state with nobody told: this one watches that the gauges keep coming (one a check per tick).
        suffix="alerts-silent",
        description="No state gauge reached CloudWatch for 15 minutes: the Dagster daemon, its alert sensors or the metric sink is down, so the other alarms keep their last state and new failures go untold. Check the daemon (docs/monitoring.md, When the alerts go silent).",
        query_id="gauges",
        label="Check gauges received",
        expression='SELECT COUNT(AssetCheckFailing) FROM SCHEMA("{namespace}", Asset, Check, Severity)',
        period=300,
        evaluation_periods=3,
        comparison="LessThanThreshold",
        treat_missing_data="breaching",  # silence is the very condition
    ),
)


@dataclass(frozen=True)
class SyncResult:
    topic_arn: str
    alarms: dict[str, str]  # alarm name -> "created" | "updated" | "unchanged"
    subscription: str = ""  # what happened to the e-mail subscription, if one was asked for


class AlarmSyncError(Exception):
    """CloudWatch or SNS refused a change; the message says which and what to check."""


def sync_alarms(
    cloudwatch, sns, prefix: str, namespace: str, email: str | None = None, kms_key_id: str | None = None
) -> SyncResult:
    """Create or update the alert topic and every pipeline alarm; running it twice changes nothing."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        topic_arn = _ensure_topic(sns, f"{prefix}-alerts", kms_key_id)
        subscription = _ensure_email(sns, topic_arn, email) if email else ""
        existing = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=[s.name(prefix) for s in PIPELINE_ALARMS])["MetricAlarms"]}
        outcome = {}
        for spec in PIPELINE_ALARMS:
            request = spec.request(prefix, namespace, topic_arn)
            current = existing.get(request["AlarmName"])
            if current is not None and _same(current, request):
                outcome[request["AlarmName"]] = "unchanged"
                continue
            cloudwatch.put_metric_alarm(**request)  # creates, or replaces the whole definition
            outcome[request["AlarmName"]] = "updated" if current is not None else "created"
    except (BotoCoreError, ClientError) as error:
        raise AlarmSyncError(f"could not sync the alarms ({error}); check the credentials' cloudwatch:PutMetricAlarm and sns:CreateTopic rights and AWS_DEFAULT_REGION") from error
    return SyncResult(topic_arn, outcome, subscription)


def _ensure_topic(sns, name: str, kms_key_id: str | None) -> str:
    arn = sns.create_topic(Name=name)["TopicArn"]  # idempotent: returns the existing topic's ARN
    account = arn.split(":")[4]
    # The same policy as Terraform's: CloudWatch alarms (and budgets, events) of this account may publish.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlarmsBudgetsAndEventsPublish",
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com", "budgets.amazonaws.com", "events.amazonaws.com"]},
                "Action": "sns:Publish",
                "Resource": arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(policy))
    if kms_key_id:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue=kms_key_id)
    return arn


def _ensure_email(sns, topic_arn: str, email: str) -> str:
    paginator = sns.get_paginator("list_subscriptions_by_topic")
    for page in paginator.paginate(TopicArn=topic_arn):
        for subscription in page["Subscriptions"]:
            if subscription["Protocol"] == "email" and subscription["Endpoint"] == email:
                confirmed = not subscription["SubscriptionArn"].startswith("PendingConfirmation")
                return f"{email} already subscribed" + ("" if confirmed else " (waiting for its confirmation e-mail to be clicked)")
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=email)
    return f"{email} subscribed: AWS sends a confirmation e-mail; alarms reach it once the link is clicked"


def _same(current: dict, request: dict) -> bool:
    """Whether the alarm CloudWatch holds already is exactly the requested definition."""
    for key in ("AlarmDescription", "ActionsEnabled", "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData"):
        if current.get(key) != request.get(key):
            return False
    if current.get("DatapointsToAlarm", request["EvaluationPeriods"]) != request.get("DatapointsToAlarm", request["EvaluationPeriods"]):
        return False
    if sorted(current.get("AlarmActions", [])) != sorted(request["AlarmActions"]) or sorted(current.get("OKActions", [])) != sorted(request["OKActions"]):
        return False
    queries = [{k: q.get(k) for k in ("Id", "Label", "Expression", "Period", "ReturnData")} for q in current.get("Metrics", [])]
    return queries == request["Metrics"]
