"""The tables ingest writes: raw and quarantine rows by week, and the log of ingested file versions."""

RAW = "raw"
QUARANTINE = "quarantine"
INGEST_LOG = "ingest_log"  # one row per ingested file version: what raw and quarantine were built from

BY_WEEK = ("shop_week",)
