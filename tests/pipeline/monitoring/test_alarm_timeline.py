"""The alarms mean what they say: a scripted hour of failures, recoveries, sink outages and quiet
periods, sent by the real forwarding sensors through the real CloudWatch sink to moto's server,
and every pipeline alarm (the Terraform ones and those `alarms sync` creates on moto, read back
with DescribeAlarms) evaluated against that metric stream.

moto does not evaluate alarms, so the evaluation is modelled from CloudWatch's documentation in
tests/helpers/cloudwatch_alarms.py (period, evaluation periods, datapoints to alarm, statistic, treat
missing data). The stream is what moto accepted: each PutMetricData that succeeded, stamped with
the scripted minute it was sent in (CloudWatch stamps data on arrival; the sink sends no time).
The same timeline goes through the lake's JSONL sink at the same time, and its alerts tell the
same story. The two stand-in assets play a pipeline asset and `feature_drift` (whose check fails
when drift is above its threshold): the sensors treat every check alike, and running the real
drift asset needs a served model, which this test is not about.
"""


import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import boto3
import dagster as dg
from botocore.config import Config
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from retail_assets.alerts.alarms import sync_alarms
from retail_assets.alerts.cloudwatch import CloudWatchAlertSink
from retail_assets.alerts.sink import LakeAlertSink
from retail_assets.defs.monitoring.alerting import asset_check_alerts, freshness_alerts_sensor, run_failure_alerts
from retail_model.lake import LocalLake
from tests.helpers.alerting import LINKS, Outcome
from tests.helpers.cloudwatch_alarms import Alarm, Datum, Evaluation, run
from tests.helpers.deploy_tools import load_hcl
from tests.helpers.paths import REPO
from tests.helpers.processes import free_port

OBSERVABILITY = REPO / "infra" / "modules" / "observability"
MINUTE, PERIOD_MINUTES, LENGTH = 60, 5, 50
SENSORS = (asset_check_alerts, freshness_alerts_sensor, run_failure_alerts)
GOLD = dg.AssetKey("gold_baskets")


def checked_asset(name: str, check: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, check_specs=[dg.AssetCheckSpec(check, asset=name)])
    def _asset(config: Outcome) -> dg.MaterializeResult:
        if config.crash:
            raise RuntimeError("the source database refused the connection")
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=config.passed, severity=dg.AssetCheckSeverity.ERROR)])

    return _asset


ORDERS = checked_asset("orders", "orders_have_rows")
DRIFT = checked_asset("feature_drift", "serving_features_match_training")
GOLD_SPEC = dg.AssetSpec(GOLD, freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8)))

# The script: minute -> what happens just before that minute's sensor ticks.
OUTAGE = range(15, 20)  # both sinks unreachable for a whole alarm period
SCRIPT = {
    0: [("orders", True), ("feature_drift", True), ("fresh", "PASS")],
    7: [("orders", False)],  # a pipeline check fails ...
    10: [("fresh", "FAIL")],  # ... gold goes stale ...
    17: [("fresh", "PASS")],  # ... and is fresh again while the sinks are down
    22: [("feature_drift", False)],  # drift above its threshold while orders still fails
    27: [("orders", True)],  # orders recovers; drift still fails
    33: [("feature_drift", True)],  # drift recovers: nothing fails any more
    38: [("crash", None)],  # a run fails
}  # minutes 39-49: quiet


def truth(minute: int) -> dict[str, bool]:
    """What holds at a minute, from the script alone: the conditions each alarm is about."""
    return {
        "asset-check-failed": 7 <= minute < 27 or 22 <= minute < 33,
        "freshness-failed": 10 <= minute < 17,
        "run-failed": minute == 38,
        "alerts-silent": False,  # the sensors tick every minute; the one outage lasts one period
    }


@dataclass
class Recorder:
    """Collects every PutMetricData moto accepted, at the scripted minute it was sent."""

    clock: float = 0.0
    stream: list[Datum] = field(default_factory=list)
    pending: list[dict] = field(default_factory=list)

    def attach(self, client) -> None:
        client.meta.events.register("before-parameter-build.cloudwatch.PutMetricData", self._before)
        client.meta.events.register("after-call.cloudwatch.PutMetricData", self._after)

    def _before(self, params, **_) -> None:
        self.pending = [(params["Namespace"], item) for item in params["MetricData"]]

    def _after(self, http_response, **_) -> None:
        if http_response.status_code == 200:
            self.stream.extend(
                Datum(self.clock, ns, item["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in item.get("Dimensions", []))), item["Value"])
                for ns, item in self.pending
            )


def cloudwatch_client(endpoint: str, region: str):
    return boto3.client("cloudwatch", endpoint_url=endpoint, region_name=region, config=Config(retries={"max_attempts": 1}))


def run_script(instance, sinks: dict[str, tuple], recorder: Recorder, script: dict = SCRIPT, length: int = LENGTH, silent: range = range(0)) -> None:
    """Play the script minute by minute, ticking every sensor for every sink (own cursors each);
    in the `silent` minutes no sensor ticks at all (the daemon is down)."""
    definitions_for = lambda sink: dg.Definitions(  # noqa: E731
        assets=[ORDERS, DRIFT, GOLD_SPEC], sensors=list(SENSORS), resources={"alert_sink": sink, "dagster_links": LINKS}
    )
    cursors: dict[tuple[str, str], str | None] = {}
    previous_fresh = FreshnessState.UNKNOWN
    for minute in range(length):
        recorder.clock = minute * MINUTE + 1
        for what, value in script.get(minute, []):
            if what == "fresh":
                instance.report_runless_asset_event(
                    FreshnessStateChange(key=GOLD, previous_state=previous_fresh, new_state=FreshnessState(value), state_change_timestamp=1_800_000_000.0 + minute * MINUTE)
                )
                previous_fresh = FreshnessState(value)
            elif what == "crash":
                dg.materialize([ORDERS], instance=instance, run_config={"ops": {"orders": {"config": {"crash": True}}}}, raise_on_error=False)
            else:
                asset = ORDERS if what == "orders" else DRIFT
                dg.materialize([asset], instance=instance, run_config={"ops": {what: {"config": {"passed": value}}}})
        if minute in silent:
            continue
        for name, (up, down) in sinks.items():
            sink = down if minute in OUTAGE else up
            for sensor in SENSORS:
                context = dg.build_sensor_context(
                    instance=instance, cursor=cursors.get((name, sensor.name)), definitions=definitions_for(sink), resources={"alert_sink": sink, "dagster_links": LINKS}
                )
                cursors[(name, sensor.name)] = sensor(context).cursor


def expected_states(alarm: str) -> list[str]:
    """Per period: ALARM when the condition held at a minute the sink could report it, OK when it
    did not, and the previous state for a period in which nothing could be reported."""
    states, state = [], "INSUFFICIENT_DATA"
    for start in range(0, LENGTH, PERIOD_MINUTES):
        reported = [m for m in range(start, start + PERIOD_MINUTES) if m not in OUTAGE]
        if reported:
            state = "ALARM" if any(truth(m)[alarm] for m in reported) else "OK"
        states.append(state)
    return states


def print_timeline(title: str, evaluations: Sequence[Evaluation], alarm_key: str) -> None:
    print(f"\n{title}")
    print("  period       condition  sink  datapoint  state              notification")
    for evaluation in evaluations:
        first = int(evaluation.start // MINUTE)
        minutes = range(first, first + PERIOD_MINUTES)
        held = "holds" if any(truth(m)[alarm_key] for m in minutes) else "-"
        sink = "down" if all(m in OUTAGE for m in minutes) else "up"
        value = "-" if evaluation.value is None else f"{evaluation.value:g}"
        print(f"  {first:02d}-{first + PERIOD_MINUTES:02d} min    {held:<9}  {sink:<4}  {value:<9}  {evaluation.state:<17}  {evaluation.notified or ''}")


def transitions(states: Sequence[str]) -> list[str]:
    """The changes of state on-call is told about, without the first OK of a new alarm."""
    changes = [s for i, s in enumerate(states) if s != (states[i - 1] if i else "INSUFFICIENT_DATA")]
    return changes[1:] if changes[:1] == ["OK"] else changes


def lake_story(lake: LocalLake) -> dict[str, list[str]]:
    """The same changes, read from the JSONL alerts the local sink wrote (`.retail/alerts/`)."""
    alerts = sorted((json.loads(lake.read_bytes(f.key)) for f in lake.list_objects("alerts")), key=lambda a: a["occurred_at"])
    failing: set[str] = set()
    story: dict[str, list[str]] = {"asset-check-failed": [], "freshness-failed": [], "run-failed": []}
    for alert in alerts:
        if alert["kind"] == "asset_check" and alert["severity"] == "ERROR":
            before = bool(failing)
            (failing.discard if alert["passed"] else failing.add)(f"{alert['asset']}/{alert['name']}")
            if bool(failing) != before:
                story["asset-check-failed"].append("ALARM" if failing else "OK")
        elif alert["kind"] == "freshness":
            story["freshness-failed"].append("OK" if alert["passed"] else "ALARM")
        elif alert["kind"] == "run_failure":
            story["run-failed"] += ["ALARM", "OK"]  # an event: on-call hears it once; nothing to clear
    return story


def alarm_definitions(aws, namespace: str, prefix: str) -> dict[str, Alarm]:
    """Every pipeline alarm twice: as `alarms sync` created it on moto (read back with
    DescribeAlarms) and as infra/modules/observability defines it."""
    moto = aws.client("cloudwatch")
    synced = sync_alarms(moto, aws.client("sns"), prefix, namespace)
    described = moto.describe_alarms(AlarmNames=list(synced.alarms))["MetricAlarms"]
    definitions = {f"alarms sync: {a['AlarmName'].removeprefix(prefix + '-')}": Alarm.from_cloudwatch(a) for a in described}
    for block in load_hcl(OBSERVABILITY / "main.tf").get("resource", []):
        for body in block.get("aws_cloudwatch_metric_alarm", {}).values():
            if any("var.metric_namespace" in q.get("expression", "") for q in body.get("metric_query", [])):
                short = body["alarm_name"].replace("${var.name}-", "")
                definitions[f"terraform: {short}"] = Alarm.from_terraform(body, namespace, short)
    assert len(definitions) == 8, sorted(definitions)
    return definitions


def test_every_alarm_is_in_alarm_exactly_while_its_condition_holds(aws, tmp_path, capsys):
    namespace = f"Timeline{aws.bucket.replace('-', '')}"
    prefix = f"timeline-{aws.bucket}"
    recorder = Recorder()
    up_client = cloudwatch_client(aws.endpoint_url, aws.region)
    recorder.attach(up_client)
    down_client = cloudwatch_client(f"http://127.0.0.1:{free_port()}", aws.region)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the lake's directory should be: every write fails")
    lake = LocalLake(tmp_path / "lake")
    sinks = {
        "cloudwatch": (CloudWatchAlertSink(namespace, client=up_client), CloudWatchAlertSink(namespace, client=down_client)),
        "lake": (LakeAlertSink(lake), LakeAlertSink(LocalLake(blocked / "lake"))),
    }
    with dg.instance_for_test() as instance:
        run_script(instance, sinks, recorder)

    # What moto holds is the stream the model evaluates: the same number of values per metric.
    moto = aws.client("cloudwatch")
    for metric in {d.metric for d in recorder.stream}:
        series = {tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in moto.list_metrics(Namespace=namespace, MetricName=metric)["Metrics"]}
        held = sum(
            p["SampleCount"]
            for dimensions in series
            for p in moto.get_metric_statistics(
                Namespace=namespace, MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions], StartTime=datetime(2000, 1, 1),
                EndTime=datetime(2100, 1, 1), Period=86400, Statistics=["SampleCount"],
            )["Datapoints"]
        )
        assert held == sum(d.metric == metric for d in recorder.stream), metric

    definitions = alarm_definitions(aws, namespace, prefix)

    story = lake_story(lake)
    with capsys.disabled():
        for title, alarm in sorted(definitions.items()):
            key = title.split(": ")[1]
            evaluations = run(alarm, recorder.stream, 0, LENGTH * MINUTE)
            print_timeline(title, evaluations, key)
            states = [e.state for e in evaluations]
            assert states == expected_states(key), f"{title}: {states}"
            notified = [e.notified for e in evaluations if e.notified]
            if key == "run-failed":
                assert notified == ["ALARM"], f"{title}: a run failure is told once and nothing clears it ({notified})"
            elif key == "alerts-silent":  # one silent period of three: the gauges still come
                assert notified == ["OK"], f"{title}: {notified}"
                continue
            else:  # the new alarm's first OK, then told when the trouble starts and when it ends, never in between
                assert transitions(states) == ["ALARM", "OK"] and notified == ["OK", "ALARM", "OK"], f"{title}: {notified}"
            assert transitions(states) == story[key], f"{title}: the lake's alerts tell {story[key]}, the alarm {transitions(states)}"


def test_a_dead_daemon_leaves_the_state_alarms_as_they_were_and_the_silence_alarm_tells(aws, tmp_path, capsys):
    """The daemon dies at minute 10 while a check fails, and is back at 30. The state alarms keep
    their state through the silence (they ignore missing data: nothing says the check recovered),
    so only `alerts-silent` can tell on-call, after three silent periods, and clears when the
    gauges come again. Evaluated as in the test above (CloudWatch's documented rules)."""
    namespace = f"Silence{aws.bucket.replace('-', '')}"
    recorder = Recorder()
    client = cloudwatch_client(aws.endpoint_url, aws.region)
    recorder.attach(client)
    sink = CloudWatchAlertSink(namespace, client=client)
    script = {0: [("orders", True), ("feature_drift", True), ("fresh", "PASS")], 7: [("orders", False)]}
    with dg.instance_for_test() as instance:
        run_script(instance, {"cloudwatch": (sink, sink)}, recorder, script=script, length=45, silent=range(10, 30))
    definitions = alarm_definitions(aws, namespace, f"silence-{aws.bucket}")
    with capsys.disabled():
        for source in ("alarms sync", "terraform"):
            silent = run(definitions[f"{source}: alerts-silent"], recorder.stream, 0, 45 * MINUTE)
            failing = run(definitions[f"{source}: asset-check-failed"], recorder.stream, 0, 45 * MINUTE)
            print(f"\n{source}, daemon down in minutes 10-30 (periods 10-15 .. 25-30)")
            print("  period     alerts-silent       asset-check-failed")
            for s, f in zip(silent, failing, strict=True):
                print(f"  {int(s.start // MINUTE):02d}-{int(s.start // MINUTE) + 5:02d} min  {s.state:<6} {s.notified or '':<10}  {f.state:<6} {f.notified or ''}")
            assert [e.state for e in silent] == ["OK"] * 4 + ["ALARM"] * 2 + ["OK"] * 3, source
            assert [e.notified for e in silent if e.notified] == ["OK", "ALARM", "OK"], source
            # the check still fails when the daemon is back, and the state alarm never claimed otherwise
            assert [e.state for e in failing] == ["OK"] + ["ALARM"] * 8, source
            assert [e.notified for e in failing if e.notified] == ["OK", "ALARM"], source
