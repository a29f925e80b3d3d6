import dagster as dg

from retail_assets.defs.asset_keys import RAW
from retail_assets.ingest.landing import ingested_versions, misnamed_files
from retail_assets.ingest.tables import QUARANTINE, RAW as RAW_TABLE
from retail_model.lake import Lake


def raw_rows_reconcile_with_landed_files(lake: Lake) -> dg.AssetCheckResult:
    """For every ingested week: the file's data lines (counted from its bytes) = rows in raw + rows in quarantine."""
    latest = {week: entry for week, entry in ingested_versions(lake).items() if entry["status"] == "ingested"}
    # Both tables are partitioned by week: their log counts each week's rows, no data is read.
    kept, quarantined = lake.rows_by(RAW_TABLE, "shop_week"), lake.rows_by(QUARANTINE, "shop_week")
    mismatched: dict[str, dict[str, int]] = {}
    for week, entry in sorted(latest.items()):
        counts = {"data_lines": entry["data_lines"], "raw": kept.get(int(week), 0), "quarantine": quarantined.get(int(week), 0)}
        if counts["raw"] + counts["quarantine"] != counts["data_lines"]:
            mismatched[week] = counts
    return dg.AssetCheckResult(
        passed=not mismatched,
        metadata={
            "weeks_checked": len(latest),
            "data_lines": sum(e["data_lines"] for e in latest.values()),
            "mismatched_weeks": dg.MetadataValue.json(mismatched),
        },
    )


def landed_files_readable(lake: Lake) -> dg.AssetCheckResult:
    """The latest version of every landed weekly file could be read (none is sitting in landing/rejected/)."""
    rejected = {week: entry["reason"] for week, entry in ingested_versions(lake).items() if entry["status"] == "rejected"}
    return dg.AssetCheckResult(
        passed=not rejected,
        severity=dg.AssetCheckSeverity.ERROR,
        # The description travels with the alert: on-call reads which weeks, not just that some failed.
        description=f"rejected week(s) {', '.join(sorted(rejected))}: see the .error.json files in landing/rejected/" if rejected else None,
        metadata={"rejected_weeks": dg.MetadataValue.json(rejected), "where": dg.MetadataValue.path(lake.uri_of("landing/rejected"))},
    )


def landed_file_names_follow_contract(lake: Lake) -> dg.AssetCheckResult:
    """No file in the landing zone looks like a weekly extract but is misnamed (it would never be ingested)."""
    misnamed = misnamed_files(lake)
    return dg.AssetCheckResult(
        passed=not misnamed,
        description=f"misnamed file(s) {', '.join(f.stored.name for f in misnamed)}: rename them transactions_YYYYWW.csv"
        if misnamed else None,
        metadata={"misnamed": dg.MetadataValue.json({f.stored.name: f.reason for f in misnamed})},
    )


_RAW_CHECKS = (raw_rows_reconcile_with_landed_files, landed_files_readable, landed_file_names_follow_contract)


# One step for the three (each check step costs a run ~70 ms of Dagster's own work and three
# events, more than these checks' reads); each can still be run alone from the UI.
@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(check.__name__, asset=RAW, description=check.__doc__) for check in _RAW_CHECKS], can_subset=True
)
def raw_checks(context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[Lake]):
    selected = {key.name for key in context.selected_asset_check_keys}
    for check in _RAW_CHECKS:
        if check.__name__ in selected:
            result = check(lake)
            yield dg.AssetCheckResult(
                asset_key=RAW, check_name=check.__name__, passed=result.passed, severity=result.severity,
                description=result.description, metadata=result.metadata,
            )
