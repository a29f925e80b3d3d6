"""The HPA's request-rate metric exists: the series the documented Prometheus adapter rule turns
into the HPA's per-pod metric is one a running API exports on /metrics.

Kubernetes skips a scale-down while any of an HPA's metrics cannot be fetched, so a metric name
that no pod exports keeps the replicas a CPU spike added. The API here is a real uvicorn server;
Prometheus and the adapter are not run: the test reads the rule the adapter would be given
(docs/deploy.md) and checks each name it relies on against the server's exposition.
"""

from __future__ import annotations

import re

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.api.test_api_server import API_KEY, bodies, lake, trained, uvicorn_server  # noqa: F401 - fixtures
from tests.helpers.deploy_tools import DEPLOY, ROOT

HPA = DEPLOY / "k8s" / "base" / "hpa.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def hpa_pod_metric() -> str:
    hpa = yaml.safe_load(HPA.read_text())
    (metric,) = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    return metric


def documented_adapter_rule() -> dict:
    """The one `rules: custom:` entry of the ```yaml block in docs/deploy.md."""
    blocks = re.findall(r"```yaml\n(.*?)```", DEPLOY_DOC.read_text(), re.S)
    rules = [yaml.safe_load(block)["rules"]["custom"] for block in blocks if "seriesQuery" in block]
    assert len(rules) == 1 and len(rules[0]) == 1, "docs/deploy.md documents one adapter rule"
    return rules[0][0]


def test_the_adapter_rule_serves_the_metric_the_hpa_asks_for():
    rule = documented_adapter_rule()
    series = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"]).group(1)
    assert re.fullmatch(rule["name"]["matches"], series), f"the rule's name.matches does not match its series {series}"
    assert re.sub(rule["name"]["matches"], rule["name"]["as"], series) == hpa_pod_metric()
    assert "{namespace!=\"\",pod!=\"\"}" in rule["seriesQuery"].replace(" ", ""), "a per-pod metric needs the pod label"


def test_the_series_and_labels_the_rule_uses_are_on_a_running_apis_metrics(lake, bodies, tmp_path):  # noqa: F811
    rule = documented_adapter_rule()
    series = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"]).group(1)
    # Label matchers the query adds besides the adapter's own (<<.LabelMatchers>>), e.g. route=~"/v1/.*".
    matchers = re.findall(r'(\w+)(=~|!~|!=|=)"([^"]*)"', rule["metricsQuery"])
    with uvicorn_server(lake, tmp_path / "api.log") as base:
        reply = httpx.post(f"{base}/v1/predict", json=bodies[0], headers={"X-API-Key": API_KEY}, timeout=10)
        assert reply.status_code == 200, reply.text
        exposition = httpx.get(f"{base}/metrics", timeout=10).text
    samples = [s for family in text_string_to_metric_families(exposition) for s in family.samples]
    counted = [s for s in samples if s.name == series]
    assert counted, f"{series} is not on /metrics; the API exports {sorted({s.name for s in samples if s.name.endswith('_total')})}"
    predicted = []
    for sample in counted:
        if all(_matches(sample.labels.get(label), op, value) for label, op, value in matchers):
            predicted.append(sample)
    assert predicted and sum(s.value for s in predicted) >= 1, f"no {series} sample matches {matchers}: the request is not counted"
    probes = [s for s in counted if s.labels.get("route") in ("/readyz", "/metrics")]
    assert probes, "the readiness probe and the scrape are counted too"
    assert not any(all(_matches(s.labels.get(label), op, value) for label, op, value in matchers) for s in probes), (
        "probes and scrapes are not traffic: the rule must leave them out"
    )


def _matches(actual: str | None, op: str, value: str) -> bool:
    actual = actual or ""
    return {
        "=": actual == value,
        "!=": actual != value,
        "=~": re.fullmatch(value, actual) is not None,
        "!~": re.fullmatch(value, actual) is None,
    }[op]


@pytest.mark.parametrize("text", [HPA.read_text(), DEPLOY_DOC.read_text()], ids=["hpa.yaml", "deploy.md"])
def test_no_metric_name_the_api_does_not_export_is_mentioned(text):
    assert "http_requests_total" not in text and "http_requests_per_second" not in text
