"""Delta table upkeep: compact the small files weekly writes leave, and vacuum the files no
version anyone needs still references, keeping every version a model was trained on.

A week's rewrite adds a few small files to each table (one per region x basket type in silver
and gold, one in features), and the prediction log gets a file per partition with every batch
the shipper writes, so after a year a table is thousands of files and every reader opens them all: compaction merges them (a commit that changes no row). Replacing weeks leaves
the replaced files behind for time travel; vacuum deletes those older than the retention, except
the files of the versions recorded by a trained model (`data_versions` in its metrics.json, and
the versions those were built from), so `scan(table, version=N)` keeps reproducing the model's
training rows. Plain logic: no Dagster import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from deltalake import CommitProperties, DeltaTable

from retail_assets.ingest.tables import INGEST_LOG, QUARANTINE, RAW
from retail_assets.lake.tables import BASKET_QUARANTINE, FEATURES, GOLD, SILVER
from retail_assets.scoring.batch import BASKET_PREDICTIONS_TABLE
from retail_model.lake import Lake
from retail_model.predictions import PREDICTIONS_TABLE

# The prediction log is appended to while this runs: compaction only rewrites files, so the
# shipper's blind appends commit on top of it (Delta's optimistic concurrency lets both through).
MAINTAINED = (RAW, QUARANTINE, INGEST_LOG, SILVER, BASKET_QUARANTINE, GOLD, FEATURES, BASKET_PREDICTIONS_TABLE, PREDICTIONS_TABLE)
DEFAULT_RETENTION_HOURS = 7 * 24  # Delta's own default: readers of a just-replaced version have a week
TARGET_FILE_BYTES = 64 * 1024 * 1024
MODELS = "models"


@dataclass(frozen=True)
class TableMaintenance:
    table: str
    files_before: int
    files_after: int
    files_compacted: int  # small files merged ...
    files_written: int  # ... into these
    files_vacuumed: int  # deleted: referenced by no version kept
    kept_versions: tuple[int, ...]  # older versions whose files were kept for trained models
    version: int


def model_pinned_versions(lake: Lake) -> dict[str, set[int]]:
    """table -> versions some trained model read (its metrics.json), with the versions they were built from."""
    pinned: dict[str, set[int]] = {}
    for stored in lake.list_objects(MODELS):
        if stored.name != "metrics.json":
            continue
        metrics = json.loads(lake.read_bytes(stored.key))
        for table, version in (metrics.get("data_versions") or {}).items():
            _pin_with_lineage(lake, table, int(version), pinned)
    return pinned


def _pin_with_lineage(lake: Lake, table: str, version: int, pinned: dict[str, set[int]]) -> None:
    if version in pinned.setdefault(table, set()):
        return
    pinned[table].add(version)
    for source, source_version in lake.lineage(table, version).items():
        _pin_with_lineage(lake, source, source_version, pinned)


def maintain(lake: Lake, retention_hours: int = DEFAULT_RETENTION_HOURS) -> list[TableMaintenance]:
    """Compact and vacuum every pipeline table that exists; returns what was done to each."""
    pinned = model_pinned_versions(lake)
    done = []
    for table in MAINTAINED:
        if lake.table_version(table) is not None:
            done.append(maintain_table(lake, table, sorted(pinned.get(table, ())), retention_hours))
    return done


def maintain_table(lake: Lake, table: str, keep_versions: list[int], retention_hours: int) -> TableMaintenance:
    delta = DeltaTable(lake.table_uri(table), storage_options=lake.storage_options())
    before = len(delta.file_uris())
    # Pinned versions' log entries must outlive Delta's 30-day log retention, or time travel to them breaks.
    if keep_versions and delta.metadata().configuration.get("delta.enableExpiredLogCleanup") != "false":
        delta.alter.set_table_properties({"delta.enableExpiredLogCleanup": "false"})
    compacted = delta.optimize.compact(target_size=TARGET_FILE_BYTES, commit_properties=_maintenance_commit())
    delta = DeltaTable(lake.table_uri(table), storage_options=lake.storage_options())
    vacuumed = delta.vacuum(
        retention_hours=retention_hours,
        dry_run=False,
        enforce_retention_duration=False,
        keep_versions=keep_versions or None,
        commit_properties=_maintenance_commit(),
        full=True,
    )
    delta = DeltaTable(lake.table_uri(table), storage_options=lake.storage_options())
    return TableMaintenance(
        table=table,
        files_before=before,
        files_after=len(delta.file_uris()),
        files_compacted=int(compacted.get("numFilesRemoved", 0)),
        files_written=int(compacted.get("numFilesAdded", 0)),
        files_vacuumed=len(vacuumed),
        kept_versions=tuple(keep_versions),
        version=delta.version(),
    )


def _maintenance_commit() -> CommitProperties:
    return CommitProperties(custom_metadata={"retail_mlops.maintenance": "true"})
