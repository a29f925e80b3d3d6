"""Which materialization an asset builds on: the one its own run made, never a concurrent run's.

`registered_model` must judge the model *its* run trained. The latest materialization on the
instance may belong to another run training at the same time, so the run's own event log (and,
for a re-execution, its parent's and root's) is asked first; only a run that did not materialize
the upstream asset at all (e.g. a person materializing `registered_model` alone) falls back to the
latest materialization, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class Upstream:
    version: str
    metadata: dict
    source: str  # "this run", "parent run <id>", or "the latest materialization (run <id>)"


def upstream_version(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, key: dg.AssetKey) -> Upstream:
    run = context.run
    lineage = [(run.run_id, "this run"), (run.parent_run_id, "parent run"), (run.root_run_id, "root run")]
    for run_id, label in lineage:
        if not run_id:
            continue
        found = _materialization_in_run(context.instance, run_id, key)
        if found is not None:
            source = label if run_id == run.run_id else f"{label} {run_id}"
            return _upstream(found, key, source)
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{key.to_user_string()} has not been materialized yet: materialize it first")
    return _upstream(event.asset_materialization, key, f"the latest materialization (run {event.run_id})")


def _materialization_in_run(instance: dg.DagsterInstance, run_id: str, key: dg.AssetKey) -> dg.AssetMaterialization | None:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in reversed(records):
        materialization = record.event_log_entry.asset_materialization
        if materialization is not None and materialization.asset_key == key:
            return materialization
    return None


def _upstream(materialization: dg.AssetMaterialization, key: dg.AssetKey, source: str) -> Upstream:
    metadata = {name: value.value for name, value in materialization.metadata.items()}
    version = metadata.get("model_version")
    if not version:
        raise dg.Failure(f"the {key.to_user_string()} materialization from {source} has no model_version metadata")
    return Upstream(str(version), metadata, source)
