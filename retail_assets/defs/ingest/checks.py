import dagster as dg

from retail_assets.defs.ingest.assets import SOURCE_FILE, raw_transactions
from retail_assets.lake import count_rows, read_json
from retail_assets.resources import LakeResource


@dg.asset_check(asset=raw_transactions)
def raw_rows_reconcile_with_landed_files(lake: LakeResource) -> dg.AssetCheckResult:
    """For every landed week: rows read from the file = rows kept in raw + rows quarantined."""
    paths = lake.paths
    mismatched: dict[str, dict[str, int]] = {}
    weeks = sorted(p.name.split("=", 1)[1] for p in paths.raw().glob("shop_week=*"))
    for week in weeks:
        source = read_json(paths.raw(week) / SOURCE_FILE) or {"rows_read": -1}
        kept, quarantined = count_rows(paths.raw(week)), count_rows(paths.quarantine(week))
        if kept + quarantined != source["rows_read"]:
            mismatched[week] = {"read": source["rows_read"], "kept": kept, "quarantined": quarantined}
    return dg.AssetCheckResult(
        passed=not mismatched,
        metadata={"weeks_checked": len(weeks), "mismatched_weeks": dg.MetadataValue.json(mismatched)},
    )
