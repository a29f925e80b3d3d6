"""The pipeline's Delta tables: names, partition columns, and the writes each hop makes.

Every write is one Delta commit and returns the version it created; every read pins one
version, so what a hop read and what it wrote can both be named in its metadata. Plain logic:
no Dagster import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from retail_assets.lake.transforms import inconsistent_baskets, silver_from_raw
from retail_model.lake import Lake, TableSnapshot

RAW = "raw"
QUARANTINE = "quarantine"
INGEST_LOG = "ingest_log"  # one row per ingested file version: what raw and quarantine were built from
SILVER = "silver"
BASKET_QUARANTINE = "basket_quarantine"  # whole baskets whose lines disagree, kept out of silver
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
    quarantined_baskets: int = 0
    quarantined_lines: int = 0


def read_upstream(lake: Lake, table: str) -> TableSnapshot:
    snapshot = lake.snapshot(table)
    if snapshot is None:
        raise MissingUpstreamError(f"the {table} table has no data yet in {lake.uri}: materialize its asset first")
    return snapshot


def rebuild_silver(lake: Lake, wanted: Sequence[tuple[str, str]], complete: bool) -> Rebuild:
    """Silver's `wanted` partitions from raw, minus baskets whose lines disagree (they go to basket_quarantine).

    Which baskets disagree is decided over the whole raw table, not per partition: a basket
    split across two regions looks consistent from inside either one.
    """
    upstream = read_upstream(lake, RAW)
    lines = silver_from_raw(upstream.frame)
    bad = inconsistent_baskets(lines)
    keys = [f"{region}|{basket_type}" for region, basket_type in wanted]
    frame = (
        lines.filter(pl.concat_str(*BY_REGION_AND_TYPE, separator="|").is_in(keys))
        .join(bad.lazy(), on="basket_id", how="anti")
        .collect()
    )
    partitions = [dict(zip(BY_REGION_AND_TYPE, pair, strict=True)) for pair in wanted]
    version = lake.replace_partitions(
        SILVER, frame, BY_REGION_AND_TYPE, partitions, lineage={RAW: upstream.version}, properties=_scope(complete)
    )
    set_aside = lines.join(bad.lazy(), on="basket_id").collect()
    lake.overwrite_table(BASKET_QUARANTINE, set_aside, lineage={RAW: upstream.version})
    return Rebuild(frame, upstream.version, version, bad.height, set_aside.height)


def rebuild_region_partitions(
    lake: Lake,
    source: str,
    target: str,
    transform: Callable[[pl.DataFrame], pl.DataFrame],
    wanted: Sequence[tuple[str, str]],
    complete: bool,
) -> Rebuild:
    """Rebuild the (store_region, basket_type) partitions `wanted` of `target` from `source`, in one commit."""
    upstream = read_upstream(lake, source)
    keys = [f"{region}|{basket_type}" for region, basket_type in wanted]
    selected = upstream.frame.filter(pl.concat_str(*BY_REGION_AND_TYPE, separator="|").is_in(keys))
    frame = transform(selected.collect())
    partitions = [dict(zip(BY_REGION_AND_TYPE, pair, strict=True)) for pair in wanted]
    version = lake.replace_partitions(
        target, frame, BY_REGION_AND_TYPE, partitions, lineage={source: upstream.version}, properties=_scope(complete)
    )
    return Rebuild(frame, upstream.version, version)


def _scope(complete: bool) -> dict[str, str]:
    """Whether a rebuild covered every partition: only such a commit says the table is up to date."""
    return {"partitions": "all" if complete else "some"}


@dataclass(frozen=True)
class Freshness:
    raw_version: int | None
    silver_built_from_raw: int | None  # by the latest rebuild of every silver partition
    silver_version: int | None
    gold_built_from_silver: int | None  # by the latest rebuild of every gold partition

    @property
    def stale(self) -> bool:
        if self.raw_version is None:
            return False
        return self.silver_built_from_raw != self.raw_version or self.gold_built_from_silver != self.silver_version

    def describe(self) -> str:
        return (
            f"raw v{self.raw_version}; silver last fully rebuilt from raw v{self.silver_built_from_raw}; "
            f"gold last fully rebuilt from silver v{self.gold_built_from_silver} (silver is at v{self.silver_version})"
        )


def lake_freshness(lake: Lake) -> Freshness:
    """Compare table versions, not timestamps: a week ingested while a rebuild was reading raw
    leaves raw at a version no full rebuild has read, so it can never be left out."""

    def built_from(table: str, source: str) -> int | None:
        for commit in lake.commits(table):
            if commit.properties.get("partitions") == "all":
                return commit.lineage.get(source)
        return None

    return Freshness(lake.table_version(RAW), built_from(SILVER, RAW), lake.table_version(SILVER), built_from(GOLD, SILVER))


@dataclass(frozen=True)
class TableStatus:
    name: str
    uri: str
    version: int | None
    rows: int


def table_statuses(lake: Lake) -> list[TableStatus]:
    """Every pipeline table: where it is, its latest Delta version and its row count."""
    statuses = []
    for name in (RAW, QUARANTINE, INGEST_LOG, SILVER, BASKET_QUARANTINE, GOLD, FEATURES):
        snapshot = lake.snapshot(name)
        rows = 0 if snapshot is None else snapshot.frame.select(pl.len()).collect().item()
        statuses.append(TableStatus(name, lake.table_uri(name), None if snapshot is None else snapshot.version, rows))
    return statuses
