import dagster as dg
import polars as pl

from retail_assets.defs.asset_keys import RAW
from retail_assets.ingest.landing import ingested_versions
from retail_assets.lake.tables import QUARANTINE, RAW as RAW_TABLE
from retail_model.lake import Lake


@dg.asset_check(asset=RAW)
def raw_rows_reconcile_with_landed_files(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
    """For every landed week: rows read from the file = rows kept in raw + rows quarantined."""
    recorded = ingested_versions(lake)
    kept = _rows_by_week(lake, RAW_TABLE)
    quarantined = _rows_by_week(lake, QUARANTINE)
    mismatched: dict[str, dict[str, int]] = {}
    for week, record in sorted(recorded.items()):
        counts = {"read": record["rows_read"], "kept": kept.get(int(week), 0), "quarantined": quarantined.get(int(week), 0)}
        if counts["kept"] + counts["quarantined"] != counts["read"]:
            mismatched[week] = counts
    return dg.AssetCheckResult(
        passed=not mismatched,
        metadata={"weeks_checked": len(recorded), "mismatched_weeks": dg.MetadataValue.json(mismatched)},
    )


def _rows_by_week(lake: Lake, table: str) -> dict[int, int]:
    frame = lake.scan(table)
    if frame is None:
        return {}
    counts = frame.group_by("shop_week").agg(pl.len()).collect()
    return dict(zip(counts["shop_week"].to_list(), counts["len"].to_list(), strict=True))
