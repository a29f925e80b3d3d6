"""The CloudWatch alert sink (aws mode): every alert becomes one metric data point the alarms watch.

The metric contract (namespace `RETAIL_ALERTS_NAMESPACE`, default `RetailMLOps`), which the alarms
in infra/modules/observability and `retail-mlops alarms sync` (alarms.py) are written against:

    AssetCheckFailed  dimensions Asset, Check, Severity   event: 1 per failed evaluation, 0 for a recovery
    FreshnessFailed   dimension  Asset                    event: 1 when the asset misses its policy, 0 when fresh again
    RunFailed         dimension  Job                      event: 1 per failed run

plus current values the sensors and monitoring assets record (`Measurement`): the state gauges
the state alarms watch, `AssetCheckFailing` and `FreshnessFailing` (states.py), every tick, and
`FeatureDriftPSI` (dimension Feature) and `LiveMacroF1` once a day.
"""

from __future__ import annotations

from collections.abc import Sequence

from retail_assets.alerts.sink import ASSET_CHECK, FRESHNESS, RUN_FAILURE, Alert, AlertDeliveryError, AlertSink, Measurement, log_alert
from retail_model.settings import AwsSettings, ConfigurationError

_MAX_DATA_PER_REQUEST = 1000  # PutMetricData's limit on metric data items per request
_MAX_DIMENSION_VALUE = 1024


class CloudWatchAlertSink(AlertSink):
    """PutMetricData in one namespace; a log line per alert too (container logs reach CloudWatch Logs)."""

    max_batch = 500  # < 1,000, so one send is one PutMetricData request: delivered whole or not at all

    def __init__(self, namespace: str, aws: AwsSettings | None = None, client=None) -> None:
        self.namespace = namespace
        self.aws = aws or AwsSettings()
        if client is None:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import NoRegionError

            # A few quick retries, then give up: the sensor keeps what was not delivered and its
            # next tick tries again, so waiting long here only delays the other alerts.
            config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"})
            try:
                client = boto3.client("cloudwatch", endpoint_url=self.aws.endpoint_url, region_name=self.aws.region, config=config)
            except NoRegionError as error:
                raise ConfigurationError("RETAIL_ALERTS=cloudwatch needs a region: set AWS_DEFAULT_REGION (or RETAIL_ALERTS=local)") from error
        self.client = client

    @property
    def destination(self) -> str:
        return f"CloudWatch namespace {self.namespace} ({self.client.meta.region_name})"

    def send(self, alerts: Sequence[Alert]) -> None:
        if len(alerts) > self.max_batch:
            raise ValueError(f"send at most {self.max_batch} alerts at once (got {len(alerts)}), so a batch is delivered whole or not at all")
        for alert in alerts:
            log_alert(alert)
        self._put([alert_datum(alert) for alert in alerts], f"{len(alerts)} alert(s)")

    def record(self, measurements: Sequence[Measurement]) -> None:
        data = [
            {"MetricName": m.name, "Dimensions": _dimensions(m.dimensions), "Value": float(m.value), "Unit": "None"}
            for m in measurements
        ]
        self._put(data, f"{len(measurements)} measurement(s)")

    def _put(self, data: list[dict], what: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for start in range(0, len(data), _MAX_DATA_PER_REQUEST):
            try:
                self.client.put_metric_data(Namespace=self.namespace, MetricData=data[start : start + _MAX_DATA_PER_REQUEST])
            except (BotoCoreError, ClientError) as error:
                raise AlertDeliveryError(f"could not deliver {what} to {self.destination}: {error}") from error


def alert_datum(alert: Alert) -> dict:
    """The data point for one alert.

    No Timestamp: CloudWatch stamps the point when it arrives. An alert delayed by a sink outage
    must land in a period the alarm still evaluates; stamped with its original time it would
    fall into a period already judged, and the alarm would never fire.
    """
    if alert.kind == ASSET_CHECK:
        name = "AssetCheckFailed"
        dimensions = {"Asset": alert.asset or "-", "Check": alert.name, "Severity": alert.severity}
        value = 0.0 if alert.passed else 1.0
    elif alert.kind == FRESHNESS:
        name, dimensions = "FreshnessFailed", {"Asset": alert.asset or "-"}
        value = 1.0 if alert.name == "FAIL" else 0.0
    elif alert.kind == RUN_FAILURE:
        name, dimensions, value = "RunFailed", {"Job": alert.name}, 1.0
    else:
        raise ValueError(f"unknown alert kind {alert.kind!r}")
    return {"MetricName": name, "Dimensions": _dimensions(dimensions), "Value": value, "Unit": "Count"}


def _dimensions(values) -> list[dict[str, str]]:
    return [{"Name": name, "Value": (str(value) or "-")[:_MAX_DIMENSION_VALUE]} for name, value in values.items()]
