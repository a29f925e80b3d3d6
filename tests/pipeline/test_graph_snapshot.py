"""The asset graph as a reviewed snapshot: a change to keys, dependencies, partitions, checks,
automation or freshness shows in the diff of `asset_graph.snapshot.json`, next to this test.

After an intended change, regenerate it with
`RETAIL_UPDATE_GRAPH_SNAPSHOT=1 .venv/bin/python -m pytest tests/pipeline/test_graph_snapshot.py`
and commit the new file with the change.
"""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from retail_assets.definitions import defs

SNAPSHOT = Path(__file__).with_name("asset_graph.snapshot.json")


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> dg.Definitions:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETAIL_LAKE", str(tmp_path_factory.mktemp("lake")))
        patch.delenv("RETAIL_MODE", raising=False)
        yield defs()


def describe_partitions(partitions_def: dg.PartitionsDefinition | None) -> object:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return {d.name: describe_partitions(d.partitions_def) for d in partitions_def.partitions_defs}
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return f"dynamic:{partitions_def.name}"
    if isinstance(partitions_def, dg.StaticPartitionsDefinition):
        return sorted(partitions_def.get_partition_keys())
    return type(partitions_def).__name__


def describe_freshness(policy) -> object:
    return None if policy is None else repr(policy)


def describe_condition(condition: dg.AutomationCondition | None) -> object:
    """The whole condition tree, as Dagster prints it (labels, cron schedules, operands)."""
    return None if condition is None else repr(condition)


def snapshot_of(definitions: dg.Definitions) -> dict:
    asset_graph = definitions.resolve_asset_graph()
    checks_by_asset: dict[str, list] = {}
    for check_key in asset_graph.asset_check_keys:
        spec = asset_graph.get_check_spec(check_key)
        checks_by_asset.setdefault(check_key.asset_key.to_user_string(), []).append(
            {"name": check_key.name, "blocking": spec.blocking}
        )
    assets = {}
    for key in sorted(asset_graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = asset_graph.get(key)
        assets[key.to_user_string()] = {
            "parents": sorted(p.to_user_string() for p in node.parent_keys),
            "partitions": describe_partitions(node.partitions_def),
            "kinds": sorted(node.kinds),
            "group": node.group_name,
            "materializable": node.is_materializable,
            "automation_condition": describe_condition(node.automation_condition),
            "freshness": describe_freshness(node.freshness_policy),
            "checks": sorted(checks_by_asset.get(key.to_user_string(), []), key=lambda c: c["name"]),
        }
    return {
        "assets": assets,
        "jobs": sorted(job.name for job in definitions.resolve_all_job_defs() if not job.name.startswith("__")),
        "schedules": sorted(s.name for s in (definitions.schedules or [])),
        "sensors": sorted(s.name for s in (definitions.sensors or [])),
    }


def test_the_asset_graph_matches_its_reviewed_snapshot(graph):
    current = json.dumps(snapshot_of(graph), indent=2, sort_keys=True) + "\n"
    if os.environ.get("RETAIL_UPDATE_GRAPH_SNAPSHOT") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"no {SNAPSHOT.name}: run this test once with RETAIL_UPDATE_GRAPH_SNAPSHOT=1"
    assert current == SNAPSHOT.read_text(), (
        f"the asset graph changed; if that is intended, regenerate {SNAPSHOT.name} "
        "(RETAIL_UPDATE_GRAPH_SNAPSHOT=1) and commit it with the change"
    )
