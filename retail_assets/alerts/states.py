"""State gauges: what is failing right now, reported on every sensor tick for the alarms to watch.

An alert (forwarding.py) is an event: it says a check failed once. An alarm needs the state: a
check that failed an hour ago and has not been evaluated since is still failing. So the sensors
also record, on every tick, one gauge per check and severity (`AssetCheckFailing`, 1 while the
latest evaluation of any of the check's partitions failed with that severity, else 0) and one per
asset with a freshness policy (`FreshnessFailing`, 1 while it misses its policy). A tick comes at
least every minute, more often than any alarm period, so every period of a failing state has a
data point of 1, and the first period after the recovery has a 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from retail_assets.alerts.forwarding import FAILED, PASSED, CheckExecution
from retail_assets.alerts.sink import Measurement

CHECK_GAUGE = "AssetCheckFailing"
FRESHNESS_GAUGE = "FreshnessFailing"
SEVERITIES = ("ERROR", "WARN")

# {asset: {check: {partition ("" when unpartitioned): severity of its failed latest evaluation}}}
Failing = dict[str, dict[str, dict[str, str]]]


def update_failing(failing: Mapping, histories: Iterable[Sequence[CheckExecution]]) -> Failing:
    """The failing state after the evaluations in `histories` (per check, newest first): for each
    partition a history mentions, its newest pass or failure decides; the others keep their state."""
    updated: Failing = {asset: {check: dict(parts) for check, parts in checks.items()} for asset, checks in failing.items()}
    for history in histories:
        decided: set[str] = set()
        for execution in history:  # newest first: the first settled one per partition is the latest
            partition = execution.partition or ""
            if partition in decided or execution.state not in (PASSED, FAILED):
                continue
            decided.add(partition)
            parts = updated.setdefault(execution.asset, {}).setdefault(execution.check, {})
            if execution.state == FAILED:
                parts[partition] = execution.severity
            else:
                parts.pop(partition, None)
    return {asset: pruned for asset, checks in updated.items() if (pruned := {c: p for c, p in checks.items() if p})}


def check_gauges(checks: Iterable[tuple[str, str]], failing: Mapping) -> list[Measurement]:
    """One `AssetCheckFailing` value per (asset, check) and severity: every check the definitions
    hold, failing or not, so a recovery (and a severity that changed) reads as a 0."""
    gauges = []
    for asset, check in checks:
        severities = set(failing.get(asset, {}).get(check, {}).values())
        gauges.extend(
            Measurement(CHECK_GAUGE, float(severity in severities), {"Asset": asset, "Check": check, "Severity": severity})
            for severity in SEVERITIES
        )
    return gauges


def freshness_gauges(states: Mapping[str, str]) -> list[Measurement]:
    """One `FreshnessFailing` value per asset whose freshness is known ({asset: PASS|WARN|FAIL|UNKNOWN})."""
    return [Measurement(FRESHNESS_GAUGE, float(state == "FAIL"), {"Asset": asset}) for asset, state in sorted(states.items()) if state != "UNKNOWN"]
