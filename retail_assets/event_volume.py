"""Two of Dagster's own switches that make a run over many partitions write far fewer events.

A silver + gold run covers every store_region x basket_type partition (48 on the sample data).
By default Dagster stores, before the run starts, one ASSET_MATERIALIZATION_PLANNED event per
partition of each asset (96), and writes the run's 96 materializations one database round trip
each. On a loaded machine one stored event costs 20-160 ms, so those writes were most of what a
new week cost (bench/README.md, "Where a new week's time goes").

- `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`: one planned event per asset, naming the
  run's partitions as a subset, instead of one per partition. The UI still shows each partition
  materialized (the materializations stay one per partition). What it gives up: when such a run
  fails, its partitions are not marked "failed" one by one; the failed run is (the run list,
  the asset's latest run, the run failure alerts).
- `DAGSTER_EVENT_BATCH_SIZE`: a step's per-partition materializations go to the event log in
  one write. PostgreSQL (the Helm deployment's storage) inserts a batch in one statement; the
  SQLite storage of `dagster dev` writes a batch event by event, as before.

Dagster reads both from the environment of the process that creates the run (the CLI, the
daemon for sensors and schedules) and of the process that runs it. `retail-mlops materialize`
(`run_pipeline`) sets them for itself; `make ui` and the Helm values set them for `dagster dev` and the cluster.
"""

from __future__ import annotations

import os

FEWER_EVENTS = {
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
    "DAGSTER_EVENT_BATCH_SIZE": "1000",  # more than any one step's materializations (raw: one per week)
}


def write_fewer_events() -> None:
    """Turn both switches on for this process and the runs it starts, unless already set (a value you set wins)."""
    for name, value in FEWER_EVENTS.items():
        os.environ.setdefault(name, value)
