"""The pipeline's Delta tables: names, partition columns, and the writes each hop makes.

Every write is one Delta commit and returns the version it created; every read pins one
version, so what a hop read and what it wrote can both be named in its metadata. Plain logic:
no Dagster import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from retail_model.lake import Lake, TableSnapshot

RAW = "raw"
QUARANTINE = "quarantine"
INGEST_LOG = "ingest_log"  # one row per ingested file version: what raw and quarantine were built from
SILVER = "silver"
GOLD = "gold"
FEATURES = "features"

BY_WEEK = ("shop_week",)
BY_REGION_AND_TYPE = ("store_region", "basket_type")


class MissingUpstreamError(Exception):
    """A hop was asked to run before the table it reads has been written."""


@dataclass(frozen=True)
class Rebuild:
    frame: pl.DataFrame
    source_version: int
    version: int


def read_upstream(lake: Lake, table: str) -> TableSnapshot:
    snapshot = lake.snapshot(table)
    if snapshot is None:
        raise MissingUpstreamError(f"the {table} table has no data yet in {lake.uri}: materialize its asset first")
    return snapshot


def rebuild_region_partitions(
    lake: Lake,
    source: str,
    target: str,
    transform: Callable[[pl.DataFrame], pl.DataFrame],
    wanted: Sequence[tuple[str, str]],
) -> Rebuild:
    """Rebuild the (store_region, basket_type) partitions `wanted` of `target` from `source`, in one commit."""
    upstream = read_upstream(lake, source)
    keys = [f"{region}|{basket_type}" for region, basket_type in wanted]
    selected = upstream.frame.filter(pl.concat_str(*BY_REGION_AND_TYPE, separator="|").is_in(keys))
    frame = transform(selected.collect())
    partitions = [dict(zip(BY_REGION_AND_TYPE, pair, strict=True)) for pair in wanted]
    version = lake.replace_partitions(target, frame, BY_REGION_AND_TYPE, partitions, lineage={source: upstream.version})
    return Rebuild(frame, upstream.version, version)


@dataclass(frozen=True)
class TableStatus:
    name: str
    uri: str
    version: int | None
    rows: int


def table_statuses(lake: Lake) -> list[TableStatus]:
    """Every pipeline table: where it is, its latest Delta version and its row count."""
    statuses = []
    for name in (RAW, QUARANTINE, INGEST_LOG, SILVER, GOLD, FEATURES):
        snapshot = lake.snapshot(name)
        rows = 0 if snapshot is None else snapshot.frame.select(pl.len()).collect().item()
        statuses.append(TableStatus(name, lake.table_uri(name), None if snapshot is None else snapshot.version, rows))
    return statuses
