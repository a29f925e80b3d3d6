from datetime import timedelta

import dagster as dg
import polars as pl

from retail_assets.defs.asset_keys import RAW
from retail_assets.defs.metadata import delta_metadata, table_metadata
from retail_assets.defs.partitions import shop_weeks, store_regions
from retail_assets.ingest.landing import landed_files, reject_file
from retail_assets.ingest.load import WeekLoad, load_week
from retail_assets.ingest.reader import UnreadableFileError
from retail_assets.lake.tables import RAW as RAW_TABLE
from retail_assets.reporting import counts_markdown
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
    """Typed transaction lines of one landed weekly file; rows that break the data contract go to quarantine."""
    landed = {f.week: f for f in landed_files(lake)}
    loads: list[WeekLoad] = []
    for week in context.partition_keys:
        if week not in landed:
            raise dg.Failure(f"no landed file for week {week}: expected {lake.uri_of(f'landing/transactions_{week}.csv')}")
        file = landed[week]
        try:
            load = load_week(lake, file, lake.fingerprint(file.stored), context.run.run_id)
        except UnreadableFileError as error:
            where = reject_file(lake, file, str(error))
            raise dg.Failure(f"{error} (the file was copied to {where} with the reason)") from error
        _add_new_regions(context, load.result.kept)
        result = load.result
        context.log.info(
            f"week {week}: {result.rows_read} rows read, {result.kept.height} kept, {result.quarantined.height} quarantined "
            f"(raw version {load.raw_version})"
        )
        loads.append(load)

    kept = pl.concat([load.result.kept for load in loads])
    reasons: dict[str, int] = {}
    for load in loads:
        for reason, count in load.result.reason_counts.items():
            reasons[reason] = reasons.get(reason, 0) + count
    return dg.MaterializeResult(
        metadata={
            **table_metadata(kept),
            **delta_metadata(lake.table_uri(RAW_TABLE), max(load.raw_version for load in loads)),
            "quarantine_version": max(load.quarantine_version for load in loads),
            "rows_read": sum(load.result.rows_read for load in loads),
            "rows_quarantined": sum(load.result.quarantined.height for load in loads),
            "quarantine_reasons": dg.MetadataValue.md(counts_markdown(reasons, "reason") if reasons else "none"),
            "column_spelling": ", ".join(sorted({load.result.column_spelling for load in loads})),
            "baskets": kept["basket_id"].n_unique(),
            "store_regions": ", ".join(sorted(kept["store_region"].unique().to_list())),
        }
    )


def _add_new_regions(context: dg.AssetExecutionContext, kept: pl.DataFrame) -> None:
    seen = set(kept["store_region"].unique().to_list())
    known = set(context.instance.get_dynamic_partitions(store_regions.name))
    new = sorted(seen - known)
    if new:
        context.instance.add_dynamic_partitions(store_regions.name, new)
        context.log.info(f"new store regions discovered: {', '.join(new)}")
