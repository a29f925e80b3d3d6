from datetime import timedelta

import dagster as dg
import polars as pl

from retail_assets.defs.asset_keys import RAW
from retail_assets.defs.metadata import delta_metadata, table_metadata
from retail_assets.defs.partitions import shop_weeks, store_regions
from retail_assets.ingest.landing import landed_files, landed_key
from retail_assets.ingest.load import load_weeks
from retail_assets.ingest.reader import IngestResult
from retail_assets.ingest.tables import RAW as RAW_TABLE
from retail_assets.reporting import counts_markdown, markdown_table
from retail_model.lake import Lake


@dg.asset(
    key=RAW,
    partitions_def=shop_weeks,
    kinds={"polars", "deltalake"},
    group_name="ingest",
    backfill_policy=dg.BackfillPolicy.single_run(),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7)),
)
def raw_transactions(context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake]) -> dg.MaterializeResult:
    """Typed transaction lines of each landed weekly file; lines that break the data contract go to quarantine."""
    landed = {f.week: f for f in landed_files(lake)}
    weeks = context.partition_keys  # each access asks the instance again: once per step
    missing = [week for week in weeks if week not in landed]
    if missing:
        raise dg.Failure(f"no landed file for week(s) {', '.join(missing)}: expected {lake.uri_of(landed_key(missing[0]))}")
    regions: set[str] = set()

    def on_week(week: str, result: IngestResult) -> None:
        regions.update(result.kept["store_region"].unique().to_list())

    report = load_weeks(lake, [landed[week] for week in weeks], context.run.run_id, on_week=on_week)
    # One line for the run, not one per week: each log line is an event the instance stores, and
    # the per-week counts are in the metadata (`lines_by_week`).
    context.log.info(
        f"{len(report.results)} week(s): {sum(r.data_lines for r in report.results.values())} lines, "
        f"{report.rows_kept} kept, {report.rows_quarantined} quarantined"
    )
    _add_new_regions(context, regions)
    for rejection in report.rejected:
        context.log.error(f"week {rejection.week} rejected: {rejection.reason} (set aside as {rejection.where})")
    if not report.results:
        raise dg.Failure(
            "every requested week was rejected: " + "; ".join(f"{r.week}: {r.reason}" for r in report.rejected),
            metadata={"rejected_weeks": ", ".join(r.week for r in report.rejected)},
        )

    reasons: dict[str, int] = {}
    for result in report.results.values():
        for reason, count in result.reason_counts.items():
            reasons[reason] = reasons.get(reason, 0) + count
    preview = report.preview if report.preview is not None else pl.DataFrame()
    return dg.MaterializeResult(
        metadata={
            **table_metadata(preview),
            "dagster/row_count": dg.MetadataValue.int(report.rows_kept),
            **delta_metadata(lake.table_uri(RAW_TABLE), report.raw_version),
            "quarantine_version": report.quarantine_version,
            "weeks_ingested": len(report.results),
            "data_lines": sum(r.data_lines for r in report.results.values()),
            "rows_quarantined": report.rows_quarantined,
            "lines_by_week": dg.MetadataValue.md(_lines_by_week(report.results)),
            "quarantine_reasons": dg.MetadataValue.md(counts_markdown(reasons, "reason") if reasons else "none"),
            "rejected_weeks": ", ".join(r.week for r in report.rejected) or "none",
            "column_spelling": ", ".join(sorted({r.column_spelling for r in report.results.values()})),
            "store_regions": ", ".join(sorted(regions)),
        }
    )


def _lines_by_week(results: dict) -> str:
    rows = [(week, r.data_lines, r.kept, r.quarantined) for week, r in sorted(results.items())]
    frame = pl.DataFrame(rows, schema=["week", "lines", "kept", "quarantined"], orient="row")
    return markdown_table(frame)


def _add_new_regions(context: dg.AssetExecutionContext, seen: set[str]) -> None:
    known = set(context.instance.get_dynamic_partitions(store_regions.name))
    new = sorted(seen - known)
    if new:
        context.instance.add_dynamic_partitions(store_regions.name, new)
        context.log.info(f"new store regions discovered: {', '.join(new)}")
