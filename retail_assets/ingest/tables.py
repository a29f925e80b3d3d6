"""The tables ingest writes: raw and quarantine rows by week, and the log of ingested file versions."""

from collections.abc import Iterable

RAW = "raw"
QUARANTINE = "quarantine"
INGEST_LOG = "ingest_log"  # one row per ingested file version: what raw and quarantine were built from

BY_WEEK = ("shop_week",)

# Every write to raw (and to the tables built from it) records which weeks' rows it replaced, in
# this commit property: the next hop rewrites exactly those weeks (retail_assets/lake/weeks.py).
WEEKS = "weeks"
EVERY_WEEK = "all"


def weeks_property(weeks: Iterable[int] | None) -> dict[str, str]:
    """The commit property for a rewrite of `weeks` (None: every week)."""
    return {WEEKS: EVERY_WEEK if weeks is None else ",".join(str(week) for week in sorted(set(weeks)))}
