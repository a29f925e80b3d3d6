"""The CloudWatch alert sink and the alarms, against moto's server over HTTP.

moto stores metric data and alarm definitions but does not evaluate alarms (no state changes, no
SNS notifications): these tests check what reaches CloudWatch and how the alarms are defined;
that an alarm in that shape fires is CloudWatch's part.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from tests.helpers.processes import free_port
from tests.helpers.deploy_tools import load_hcl
from tests.helpers.alerting import LINKS, orders_asset  # the same small asset whose check fails on demand
from typer.testing import CliRunner

from retail_assets.alerts.alarms import PIPELINE_ALARMS, sync_alarms
from retail_assets.alerts.cloudwatch import CloudWatchAlertSink
from retail_assets.alerts.sink import Alert, AlertDeliveryError, Measurement
from retail_assets.cli import app
from retail_assets.defs.monitoring.alerting import asset_check_alerts
from retail_model.settings import AwsSettings
from tests.helpers.paths import REPO

NAMESPACE = "RetailMLOps"
OBSERVABILITY = REPO / "infra" / "modules" / "observability"


def datapoints(cloudwatch, metric: str, dimensions: dict[str, str], namespace: str = NAMESPACE) -> list[dict]:
    now = datetime.now(UTC)
    return cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5), Period=3600, Statistics=["Sum", "SampleCount", "Maximum"],
    )["Datapoints"]


def alert(kind: str, name: str, asset: str | None, passed: bool = False, severity: str = "ERROR") -> Alert:
    return Alert(f"{kind}/{name}/{passed}", kind, name, asset, severity, passed, "test alert", occurred_at="2026-01-05T10:00:00+00:00")


def test_each_outcome_is_one_data_point_with_the_alarms_dimensions(aws):
    namespace = f"Test{aws.bucket}"  # moto keeps metrics for the whole session: one namespace per test
    sink = CloudWatchAlertSink(namespace, aws.settings())
    sink.send([
        alert("asset_check", "gold_basket_ids_unique", "gold_baskets"),
        alert("asset_check", "released_model_answers", "api_release", passed=True, severity="WARN"),
        alert("freshness", "FAIL", "raw_transactions"),
        alert("run_failure", "rebuild_lake", None),
    ])
    sink.record([Measurement("FeatureDriftPSI", 0.31, {"Feature": "store_region"}), Measurement("LiveMacroF1", 0.82)])
    cloudwatch = aws.client("cloudwatch")
    check = datapoints(cloudwatch, "AssetCheckFailed", {"Asset": "gold_baskets", "Check": "gold_basket_ids_unique", "Severity": "ERROR"}, namespace)
    assert [(p["Sum"], p["SampleCount"]) for p in check] == [(1.0, 1.0)]
    recovery = datapoints(cloudwatch, "AssetCheckFailed", {"Asset": "api_release", "Check": "released_model_answers", "Severity": "WARN"}, namespace)
    assert [(p["Sum"], p["SampleCount"]) for p in recovery] == [(0.0, 1.0)]
    assert [p["Maximum"] for p in datapoints(cloudwatch, "FreshnessFailed", {"Asset": "raw_transactions"}, namespace)] == [1.0]
    assert [p["Sum"] for p in datapoints(cloudwatch, "RunFailed", {"Job": "rebuild_lake"}, namespace)] == [1.0]
    assert [p["Maximum"] for p in datapoints(cloudwatch, "FeatureDriftPSI", {"Feature": "store_region"}, namespace)] == [0.31]
    assert [p["Maximum"] for p in datapoints(cloudwatch, "LiveMacroF1", {}, namespace)] == [0.82]


def test_an_unreachable_cloudwatch_is_a_delivery_error_that_says_where(aws):
    sink = CloudWatchAlertSink(NAMESPACE, AwsSettings(endpoint_url=f"http://127.0.0.1:{free_port()}", region=aws.region))
    with pytest.raises(AlertDeliveryError, match=r"could not deliver 1 alert\(s\) to CloudWatch namespace RetailMLOps \(us-east-1\)"):
        sink.send([alert("run_failure", "ingest_week", None)])


def test_a_failed_check_reaches_cloudwatch_once_across_an_outage_and_a_restart(aws, tmp_path):
    namespace = f"Test{aws.bucket}"
    orders = orders_asset("orders_cloudwatch")
    with dg.instance_for_test() as instance:
        def tick(sink, cursor):
            definitions = dg.Definitions(assets=[orders], sensors=[asset_check_alerts], resources={"alert_sink": sink, "dagster_links": LINKS})
            context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions, resources={"alert_sink": sink, "dagster_links": LINKS})
            result = asset_check_alerts(context)
            return result.cursor, result.skip_reason.skip_message

        reachable = CloudWatchAlertSink(namespace, aws.settings())
        cursor, _ = tick(reachable, None)
        run_id = dg.materialize([orders], instance=instance, run_config={"ops": {"orders_cloudwatch": {"config": {"passed": False}}}}).run_id
        outage = CloudWatchAlertSink(namespace, AwsSettings(endpoint_url=f"http://127.0.0.1:{free_port()}", region=aws.region))
        cursor, said = tick(outage, cursor)
        assert "sent 0 of 1" in said
        # The sensor restarts: a new sink object, and only the stored cursor carries over.
        cursor, said = tick(CloudWatchAlertSink(namespace, aws.settings()), cursor)
        assert said.startswith("sent 1 alert(s) to CloudWatch")
        tick(CloudWatchAlertSink(namespace, aws.settings()), cursor)
    points = datapoints(aws.client("cloudwatch"), "AssetCheckFailed", {"Asset": "orders_cloudwatch", "Check": "orders_have_rows", "Severity": "ERROR"}, namespace)
    assert [(p["Sum"], p["SampleCount"]) for p in points] == [(1.0, 1.0)], f"run {run_id}: expected exactly one data point"


def test_alarm_sync_creates_the_topic_and_alarms_then_changes_nothing(aws):
    cloudwatch, sns = aws.client("cloudwatch"), aws.client("sns")
    prefix = f"retail-{aws.bucket}"
    first = sync_alarms(cloudwatch, sns, prefix, NAMESPACE, email="oncall@example.com")
    assert set(first.alarms.values()) == {"created"} and "subscribed" in first.subscription
    assert first.topic_arn.endswith(f":{prefix}-alerts")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]}
    failed = alarms[f"{prefix}-asset-check-failed"]
    assert failed["AlarmActions"] == [first.topic_arn] and failed["OKActions"] == [first.topic_arn]
    assert (failed["Threshold"], failed["ComparisonOperator"], failed["EvaluationPeriods"]) == (1.0, "GreaterThanOrEqualToThreshold", 1)
    [query] = failed["Metrics"]
    assert query["Expression"] == "SELECT MAX(AssetCheckFailing) FROM SCHEMA(\"RetailMLOps\", Asset, Check, Severity) WHERE Severity = 'ERROR'"
    assert alarms[f"{prefix}-run-failed"].get("OKActions", []) == []
    topic = sns.get_topic_attributes(TopicArn=first.topic_arn)["Attributes"]
    assert "cloudwatch.amazonaws.com" in topic["Policy"]

    again = sync_alarms(cloudwatch, sns, prefix, NAMESPACE, email="oncall@example.com")
    assert set(again.alarms.values()) == {"unchanged"} and again.topic_arn == first.topic_arn
    assert "already subscribed" in again.subscription
    cloudwatch.put_metric_alarm(**{**PIPELINE_ALARMS[0].request(prefix, NAMESPACE, first.topic_arn), "Threshold": 5.0})
    assert sync_alarms(cloudwatch, sns, prefix, NAMESPACE).alarms[f"{prefix}-asset-check-failed"] == "updated"


def test_alarms_sync_from_the_command_line(aws, monkeypatch, tmp_path):
    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("RETAIL_ALERTS_NAMESPACE", "RetailMLOpsStaging")
    result = CliRunner().invoke(app, ["alarms", "sync", "--prefix", f"cli-{aws.bucket}"])
    assert result.exit_code == 0, result.output
    assert f"cli-{aws.bucket}-freshness-failed" in result.output and "created" in result.output
    assert "RETAIL_ALERTS is local" in result.output  # a reminder that these alarms see no data yet
    [alarm] = aws.client("cloudwatch").describe_alarms(AlarmNames=[f"cli-{aws.bucket}-freshness-failed"])["MetricAlarms"]
    assert 'SCHEMA("RetailMLOpsStaging", Asset)' in alarm["Metrics"][0]["Expression"]


def test_the_python_alarms_are_the_terraform_alarms():
    """`alarms sync` and infra/modules/observability define the same alarms, field by field."""
    terraform = {}
    for block in load_hcl(OBSERVABILITY / "main.tf").get("resource", []):
        for name, body in block.get("aws_cloudwatch_metric_alarm", {}).items():
            queries = body.get("metric_query", [])
            if any("var.metric_namespace" in q.get("expression", "") for q in queries):
                terraform[body["alarm_name"].replace("${var.name}", "PREFIX")] = body
    python = {spec.name("PREFIX"): spec.request("PREFIX", "${var.metric_namespace}", "TOPIC") for spec in PIPELINE_ALARMS}
    assert set(terraform) == set(python)
    for name, request in python.items():
        body = terraform[name]
        [query] = body["metric_query"]
        assert request["AlarmDescription"] == body["alarm_description"], name
        assert request["ComparisonOperator"] == body["comparison_operator"], name
        assert request["Threshold"] == body["threshold"], name
        assert request["EvaluationPeriods"] == body["evaluation_periods"], name
        assert request.get("DatapointsToAlarm") == body.get("datapoints_to_alarm"), name
        assert request["TreatMissingData"] == body["treat_missing_data"], name
        assert bool(request["OKActions"]) == ("ok_actions" in body), name
        assert request["Metrics"] == [{"Id": query["id"], "Label": query["label"], "Expression": query["expression"], "Period": query["period"], "ReturnData": query["return_data"]}], name
