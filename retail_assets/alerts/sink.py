"""`AlertSink`: one event per asset-check outcome, freshness change or run failure, sent to on-call.

Local: a structured log line plus one JSONL object per alert under `alerts/` in the lake (a disk or
S3). CloudWatch (aws mode, cloudwatch.py) turns the same events into metric data points that
alarms watch. Events carry a stable `alert_id`, so the local sink stores a repeat over the first
copy instead of beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from retail_model.lake import Lake

log = logging.getLogger(__name__)

ASSET_CHECK = "asset_check"
FRESHNESS = "freshness"
RUN_FAILURE = "run_failure"


class AlertDeliveryError(Exception):
    """The sink could not take the alerts; the forwarding sensors keep them and retry next tick."""


@dataclass(frozen=True)
class Alert:
    alert_id: str  # stable for one outcome: the same event sent twice has the same id
    kind: str  # ASSET_CHECK | FRESHNESS | RUN_FAILURE
    name: str  # the check name, the new freshness state (PASS/WARN/FAIL/UNKNOWN), or the job name
    asset: str | None
    severity: str  # "ERROR" | "WARN": how bad the failure is (a recovery keeps its check's severity)
    passed: bool  # True for a recovery: the check passes again, the asset is fresh again
    message: str
    run_id: str | None = None
    url: str | None = None  # back to the run (or the asset) in the Dagster UI
    occurred_at: str = ""  # ISO-8601 UTC, when Dagster recorded the outcome


@dataclass(frozen=True)
class Measurement:
    """A current value (an asset's freshness, a feature's PSI) for dashboards and alarms, not an event."""

    name: str
    value: float
    dimensions: Mapping[str, str] = field(default_factory=dict)


class AlertSink(ABC):
    # The forwarding sensors never hand a sink more alerts than this at once, so each `send` is
    # delivered whole or not at all and the sensor's cursor can follow exactly what was delivered.
    max_batch: int = 500

    @abstractmethod
    def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver every alert or raise `AlertDeliveryError`: the caller retries what was not delivered."""

    def record(self, measurements: Sequence[Measurement]) -> None:  # noqa: B027 - optional for a sink
        """Publish current values (a gauge); a sink without metrics ignores them. Raises `AlertDeliveryError`."""

    @property
    def destination(self) -> str:
        """Where alerts go, in words, for log lines and sensor ticks."""
        return type(self).__name__


class LakeAlertSink(AlertSink):
    """Alerts as log lines and as JSONL objects under alerts/date=YYYY-MM-DD/, one file per alert.

    The file is named after the alert's date, time and a digest of its id, so sending an alert
    again rewrites the same object (atomically) instead of adding a second copy. Read them all
    with `polars.scan_ndjson("<lake>/alerts/**/*.jsonl")`.
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    @property
    def destination(self) -> str:
        return self.lake.uri_of("alerts")

    def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            log_alert(alert)
            try:
                self.lake.write_bytes(alert_key(alert), (json.dumps(asdict(alert), sort_keys=True) + "\n").encode())
            except Exception as error:  # noqa: BLE001 - any storage failure is an outage to retry
                raise AlertDeliveryError(f"cannot write alert {alert.alert_id} to {self.destination}: {error}") from error


def log_alert(alert: Alert) -> None:
    """One structured log line per alert (ERROR for a failure, INFO for a recovery), whatever the sink."""
    level = logging.INFO if alert.passed else logging.ERROR
    log.log(
        level, "alert %s %s %s %s: %s %s", alert.kind, alert.severity, alert.asset or "-", alert.name, alert.message, alert.url or "",
        extra={"alert": asdict(alert)},
    )


def alert_key(alert: Alert) -> str:
    """alerts/date=YYYY-MM-DD/HHMMSS-<kind>-<digest of alert_id>.jsonl, stable for one alert."""
    at = _parse(alert.occurred_at)
    digest = hashlib.sha256(alert.alert_id.encode()).hexdigest()[:20]
    return f"alerts/date={at:%Y-%m-%d}/{at:%H%M%S}-{alert.kind}-{digest}.jsonl"


def _parse(timestamp: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        # An alert without a time (none of ours) lands under the epoch, still stable per alert_id.
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
