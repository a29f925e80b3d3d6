"""The pipeline's Delta tables: names, partition columns, and the writes each hop makes.

Every write is one Delta commit and returns the version it created; every read pins one
version, so what a hop read and what it wrote can both be named in its metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import polars as pl

from retail_assets.ingest.tables import INGEST_LOG, QUARANTINE, RAW
from retail_assets.lake.transforms import baskets_to_set_aside, inconsistent_baskets, normalised_lines, silver_from_raw
from retail_assets.lake.weeks import built_from, changed_weeks, weeks_property
from retail_model.lake import Lake, TableSnapshot

SILVER = "silver"
BASKET_QUARANTINE = "basket_quarantine"  # whole baskets whose lines disagree, kept out of silver
GOLD = "gold"
FEATURES = "features"

BY_REGION_AND_TYPE = ("store_region", "basket_type")


class MissingUpstreamError(Exception):
    """A hop was asked to run before the table it reads has been written."""


ROWS_PER_CHUNK = 300_000  # rows a rebuild holds in memory at once, whatever the size of the lake


@dataclass
class Rebuild:
    """What a rebuild wrote: a preview for people, counts, and the versions read and written."""

    preview: pl.DataFrame
    rows: int
    source_version: int
    version: int
    totals: dict[str, float] = field(default_factory=dict)
    quarantined_baskets: int = 0
    quarantined_lines: int = 0
    weeks: list[int] | None = None  # the weeks whose rows this write replaced; None: every week
    table_rows: int | None = None  # rows in the table after the write (`rows` counts those written)

    def weeks_rewritten(self) -> str:
        """For people: "all", "none" or the week numbers."""
        if self.weeks is None:
            return "all"
        return ", ".join(str(week) for week in self.weeks) or "none"


def read_upstream(lake: Lake, table: str) -> TableSnapshot:
    snapshot = lake.snapshot(table)
    if snapshot is None:
        raise MissingUpstreamError(f"the {table} table has no data yet in {lake.uri}: materialize its asset first")
    return snapshot


def week_ranges(frame: pl.LazyFrame, rows_per_chunk: int = ROWS_PER_CHUNK) -> list[tuple[int, int]]:
    """Consecutive week ranges of about `rows_per_chunk` rows each.

    Baskets never span weeks (SHOP_WEEK is a basket-level column, and a basket whose lines
    disagree on it is quarantined), so a range always holds whole baskets.
    """
    counts = frame.group_by("shop_week").agg(pl.len()).sort("shop_week").collect()
    ranges, first, size = [], None, 0
    for week, rows in counts.iter_rows():
        first = week if first is None else first
        size += rows
        if size >= rows_per_chunk:
            ranges.append((first, week))
            first, size = None, 0
    if first is not None:
        ranges.append((first, counts["shop_week"][-1]))
    return ranges


class _Chunks:
    """A rebuild's output, one week range at a time, streamed into one Delta commit.

    Tables are written sorted by shop_week in small row groups, so the next hop's reads of a week
    range skip the rest of each file: memory and work stay proportional to a chunk.
    """

    def __init__(self, source: pl.LazyFrame, where: pl.Expr | None, transform: Transform, summarize: Summary | None,
                 rows_per_chunk: int = ROWS_PER_CHUNK, weeks: set[int] | None = None) -> None:
        self.source = source.filter(where) if where is not None else source
        self.weeks = None if weeks is None else sorted(weeks)  # the source is already limited to these weeks
        self.transform, self.summarize, self.rows_per_chunk = transform, summarize, rows_per_chunk
        self.preview: pl.DataFrame | None = None
        self.rows = 0
        self.totals: dict[str, float] = {}

    def __iter__(self) -> Iterator[pl.DataFrame]:
        yield self.transform(self._empty())  # the schema, even if no rows follow
        # One week (a weekly landing) is one chunk: no need to count rows per week first.
        ranges = [(self.weeks[0], self.weeks[0])] if self.weeks is not None and len(self.weeks) == 1 else week_ranges(self.source, self.rows_per_chunk)
        for first, last in ranges:
            chunk = self.transform(self.source.filter(pl.col("shop_week").is_between(first, last)).collect())
            self.rows += chunk.height
            if self.preview is None or self.preview.height < 5:
                self.preview = chunk.head(5)
            for name, value in (self.summarize(chunk) if self.summarize else {}).items():
                self.totals[name] = self.totals.get(name, 0) + value
            yield chunk

    def _empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.source.collect_schema())  # no scan: the schema is in the table's log

    def result(self, source_version: int, version: int, weeks: set[int] | None = None) -> Rebuild:
        preview = self.preview if self.preview is not None else self.transform(self._empty())
        return Rebuild(
            preview, self.rows, source_version, version, self.totals, weeks=None if weeks is None else sorted(weeks), table_rows=self.rows
        )


Transform = Callable[[pl.DataFrame], pl.DataFrame]
Summary = Callable[[pl.DataFrame], dict[str, float]]


def rebuild_silver(lake: Lake, wanted: Sequence[tuple[str, str]], complete: bool) -> Rebuild:
    """Silver's `wanted` partitions from raw, minus baskets whose lines disagree (they go to basket_quarantine).

    Which baskets disagree is decided over the whole raw table, not per partition: a basket
    split across two regions looks consistent from inside either one.
    """
    upstream = read_upstream(lake, RAW)
    weeks = _weeks_to_update(lake, RAW, SILVER, upstream.version) if complete else None
    if weeks is not None:
        return _update_silver(lake, upstream, weeks)
    bad = inconsistent_baskets(normalised_lines(upstream.frame))

    def transform(raw: pl.DataFrame) -> pl.DataFrame:
        return silver_from_raw(raw).join(bad, on="basket_id", how="anti")

    chunks = _Chunks(upstream.frame, None if complete else _in(wanted), transform, None)
    version = _replace(lake, SILVER, chunks, wanted, complete, {RAW: upstream.version})
    lines = normalised_lines(upstream.frame)
    # Usually no basket disagrees: then only the table's columns are needed, not another scan of raw.
    set_aside = (lines.head(0) if bad.is_empty() else lines).join(bad.lazy(), on="basket_id").collect(engine="streaming")
    lake.overwrite_table(BASKET_QUARANTINE, set_aside, lineage={RAW: upstream.version})
    rebuild = chunks.result(upstream.version, version)
    rebuild.quarantined_baskets, rebuild.quarantined_lines = bad.height, set_aside.height
    return rebuild


def _update_silver(lake: Lake, upstream: TableSnapshot, weeks: set[int]) -> Rebuild:
    """Silver's rows of `weeks` (and of any week sharing a disagreeing basket with them) from raw, in one commit."""
    before = lake.scan(BASKET_QUARANTINE)
    bad, affected, set_aside = baskets_to_set_aside(upstream.frame, before, weeks)

    def transform(raw: pl.DataFrame) -> pl.DataFrame:
        return silver_from_raw(raw).join(bad, on="basket_id", how="anti")

    chunks = _Chunks(upstream.frame.filter(pl.col("shop_week").is_in(sorted(affected))), None, transform, None, weeks=affected)
    lineage = {RAW: upstream.version}
    version = lake.replace_where(
        SILVER, chunks, BY_REGION_AND_TYPE, "shop_week", sorted(affected), lineage=lineage, properties=_scope(True, affected)
    )
    # Usually no basket of these weeks is set aside, now or before: then the table stays as it is.
    unchanged = not set_aside.height and not lake.rows_by(BASKET_QUARANTINE, "shop_week", sorted(affected))
    if before is not None and not unchanged:
        kept = before.filter(~pl.col("shop_week").is_in(sorted(affected))).collect()
        lake.overwrite_table(BASKET_QUARANTINE, pl.concat([kept, set_aside], how="diagonal_relaxed"), lineage=lineage)
    elif before is None:
        lake.overwrite_table(BASKET_QUARANTINE, set_aside, lineage=lineage)
    rebuild = chunks.result(upstream.version, version, affected)
    rebuild.table_rows = lake.count_rows(SILVER, version)
    rebuild.quarantined_baskets, rebuild.quarantined_lines = bad.height, set_aside.height
    return rebuild


def _weeks_to_update(lake: Lake, source: str, target: str, source_version: int) -> set[int] | None:
    """The weeks `source` rewrote since `target` was last built from it; None: rebuild every week."""
    if lake.table_version(target) is None:
        return None
    return changed_weeks(lake, source, built_from(lake, target, source), source_version)


def rebuild_region_partitions(
    lake: Lake,
    source: str,
    target: str,
    transform: Transform,
    wanted: Sequence[tuple[str, str]],
    complete: bool,
    summarize: Summary | None = None,
) -> Rebuild:
    """Rebuild the (store_region, basket_type) partitions `wanted` of `target` from `source`, in one commit.

    When `wanted` is every partition, only the weeks `source` rewrote since `target` last read it are replaced.
    """
    upstream = read_upstream(lake, source)
    weeks = _weeks_to_update(lake, source, target, upstream.version) if complete else None
    if weeks is not None:
        return _update_weeks(lake, upstream, source, target, transform, summarize, BY_REGION_AND_TYPE, weeks)
    chunks = _Chunks(upstream.frame, None if complete else _in(wanted), transform, summarize)
    version = _replace(lake, target, chunks, wanted, complete, {source: upstream.version})
    return chunks.result(upstream.version, version)


def _replace(lake: Lake, table: str, chunks: _Chunks, wanted: Sequence[tuple[str, str]], complete: bool, lineage: dict) -> int:
    """Every partition: overwrite the table. Some: replace just those (a one-partition run from the UI)."""
    if complete:
        return lake.overwrite_table(table, chunks, BY_REGION_AND_TYPE, lineage=lineage, properties=_scope(True, None))
    return lake.replace_partitions(table, chunks, BY_REGION_AND_TYPE, _partitions(wanted), lineage=lineage, properties=_scope(False, None))


def _update_weeks(
    lake: Lake, upstream: TableSnapshot, source: str, target: str, transform: Transform, summarize: Summary | None,
    partition_by: Sequence[str], weeks: set[int], rows_per_chunk: int = ROWS_PER_CHUNK,
) -> Rebuild:
    """Replace `target`'s rows of `weeks` with `transform` of `source`'s rows of those weeks, in one commit."""
    chunks = _Chunks(upstream.frame.filter(pl.col("shop_week").is_in(sorted(weeks))), None, transform, summarize, rows_per_chunk, weeks)
    version = lake.replace_where(
        target, chunks, partition_by, "shop_week", sorted(weeks), lineage={source: upstream.version}, properties=_scope(True, weeks)
    )
    rebuild = chunks.result(upstream.version, version, weeks)
    rebuild.table_rows = lake.count_rows(target, version)
    return rebuild


def rebuild_table(
    lake: Lake, source: str, target: str, transform: Transform, summarize: Summary | None = None, rows_per_chunk: int = ROWS_PER_CHUNK
) -> Rebuild:
    """Bring `target` up to date with `transform` applied to `source`, in one commit: only the weeks
    `source` rewrote since `target` last read it, or the whole table week range by week range.

    `rows_per_chunk` counts source rows: lower it where one source row becomes a lot of memory.
    """
    upstream = read_upstream(lake, source)
    weeks = _weeks_to_update(lake, source, target, upstream.version)
    if weeks is not None:
        return _update_weeks(lake, upstream, source, target, transform, summarize, (), weeks, rows_per_chunk)
    chunks = _Chunks(upstream.frame, None, transform, summarize, rows_per_chunk)
    version = lake.overwrite_table(target, chunks, lineage={source: upstream.version}, properties=_scope(True, None))
    return chunks.result(upstream.version, version)


def _in(wanted: Sequence[tuple[str, str]]) -> pl.Expr:
    return pl.concat_str(*BY_REGION_AND_TYPE, separator="|").is_in([f"{region}|{kind}" for region, kind in wanted])


def _partitions(wanted: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [dict(zip(BY_REGION_AND_TYPE, pair, strict=True)) for pair in wanted]


def _scope(complete: bool, weeks: set[int] | None) -> dict[str, str]:
    """Whether a write covered every partition (only such a commit says the table is up to date),
    and which weeks' rows it replaced (None: every week), for the next hop to follow."""
    return {"partitions": "all" if complete else "some", **weeks_property(weeks)}


@dataclass(frozen=True)
class Freshness:
    raw_version: int | None
    silver_built_from_raw: int | None  # by the latest write of every silver partition
    silver_version: int | None
    gold_built_from_silver: int | None  # by the latest write of every gold partition
    changes_pending: bool = True  # a source commit since then changed rows (compaction and vacuum do not)

    @property
    def stale(self) -> bool:
        return self.raw_version is not None and self.changes_pending

    def describe(self) -> str:
        return (
            f"raw v{self.raw_version}; silver last fully rebuilt from raw v{self.silver_built_from_raw}; "
            f"gold last fully rebuilt from silver v{self.gold_built_from_silver} (silver is at v{self.silver_version})"
        )


def lake_freshness(lake: Lake) -> Freshness:
    """Compare table versions, not timestamps: a week ingested while a rebuild was reading raw
    leaves raw at a version no full rebuild has read, so it can never be left out. Commits that
    change no row (the maintenance job's) do not make silver or gold stale."""
    raw_version, silver_version = lake.table_version(RAW), lake.table_version(SILVER)
    silver_from, gold_from = built_from(lake, SILVER, RAW), built_from(lake, GOLD, SILVER)
    pending = raw_version is not None and (
        changed_weeks(lake, RAW, silver_from, raw_version) != set()
        or silver_version is None
        or changed_weeks(lake, SILVER, gold_from, silver_version) != set()
    )
    return Freshness(raw_version, silver_from, silver_version, gold_from, pending)


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
