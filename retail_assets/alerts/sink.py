"""`AlertSink`: one event per asset-check outcome, freshness change or run failure, sent to on-call.

Local: a structured log line plus JSONL objects under `alerts/` in the lake (a disk or S3).
CloudWatch (aws mode) turns the same events into metric data points that alarms watch.
Events carry a stable `alert_id`, so a sink that is retried after an outage can drop repeats.
No Dagster import.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from retail_model.lake import Lake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    alert_id: str  # stable for one outcome: the same event sent twice has the same id
    kind: str  # "asset_check" | "freshness" | "run_failure"
    name: str  # the check name, the freshness state, or the job name
    asset: str | None
    severity: str  # "ERROR" | "WARN" | "INFO" (a recovery)
    passed: bool
    message: str
    run_id: str | None = None
    url: str | None = None
    occurred_at: str = ""


class AlertSink(ABC):
    @abstractmethod
    def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver every alert or raise: the caller retries what was not delivered."""


class LakeAlertSink(AlertSink):
    """Alerts as log lines and as one JSONL object per batch under alerts/date=YYYY-MM-DD/."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def send(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        now = datetime.now(UTC)
        for alert in alerts:
            level = logging.INFO if alert.passed else logging.ERROR
            log.log(level, "alert %s %s %s: %s", alert.kind, alert.asset or "-", alert.name, alert.message)
        body = "".join(json.dumps(asdict(alert), sort_keys=True) + "\n" for alert in alerts)
        first = alerts[0].alert_id.replace("/", "_")
        self.lake.write_bytes(f"alerts/date={now:%Y-%m-%d}/{now:%H%M%S%f}-{first}.jsonl", body.encode())
