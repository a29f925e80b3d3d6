"""Load one landed week into the lake: raw rows, quarantined rows, and the ingest log entry.

Three Delta commits, each replacing only this week's partition; the ingest log is written
last, so a load that dies half-way leaves the week pending and the next run redoes it whole.
Plain logic: no Dagster import.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from retail_assets.ingest.landing import LandedFile, ingest_log_row
from retail_assets.ingest.reader import IngestResult, parse_weekly_file
from retail_assets.lake.tables import BY_WEEK, INGEST_LOG, QUARANTINE, RAW
from retail_model.lake import Lake


@dataclass(frozen=True)
class WeekLoad:
    result: IngestResult
    raw_version: int
    quarantine_version: int
    log_version: int


def load_week(lake: Lake, landed: LandedFile, fingerprint: str, run_id: str) -> WeekLoad:
    """Parse the landed file and replace its week in raw, quarantine and the ingest log.

    Raises UnreadableFileError when the file cannot be read as a weekly extract at all.
    """
    result = parse_weekly_file(landed.stored.name, lake.read_bytes(landed.key))
    week = int(landed.week)
    partition = [{"shop_week": week}]
    kept = result.kept.with_columns(source_fingerprint=pl.lit(fingerprint))
    raw_version = lake.replace_partitions(RAW, kept, BY_WEEK, partition)
    quarantine_version = lake.replace_partitions(QUARANTINE, quarantine_table(result.quarantined, week), BY_WEEK, partition)
    log = ingest_log_row(landed, fingerprint, result.rows_read, result.kept.height, result.quarantined.height, run_id)
    log_version = lake.replace_partitions(
        INGEST_LOG, log, BY_WEEK, partition, lineage={RAW: raw_version, QUARANTINE: quarantine_version}
    )
    return WeekLoad(result, raw_version, quarantine_version, log_version)


def quarantine_table(quarantined: pl.DataFrame, week: int) -> pl.DataFrame:
    """Quarantined rows keep their text as it landed; the partition column is the file's week.

    The row's own SHOP_WEEK text (which may be what was wrong with it) stays in `shop_week_text`.
    """
    return quarantined.rename({"shop_week": "shop_week_text"}).select(
        pl.lit(week, dtype=pl.Int32()).alias("shop_week"), pl.all()
    )
