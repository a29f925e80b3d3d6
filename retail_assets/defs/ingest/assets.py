import json
import shutil
from pathlib import Path

import dagster as dg
import polars as pl

from retail_assets.ingest import IngestResult, UnreadableFileError, file_fingerprint, read_weekly_file
from retail_assets.lake import replace_partition
from retail_assets.landing import SOURCE_FILE, source_record
from retail_assets.metadata import counts_markdown, table_metadata
from retail_assets.partitions import shop_weeks, store_regions
from retail_assets.resources import LakeResource


@dg.asset(
    partitions_def=shop_weeks,
    kinds={"polars", "parquet"},
    group_name="ingest",
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def raw_transactions(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Typed transaction lines of one landed weekly file; rows that break the data contract go to quarantine."""
    paths = lake.paths
    results: list[IngestResult] = []
    for week in context.partition_keys:
        landed = paths.landing / f"transactions_{week}.csv"
        if not landed.exists():
            raise dg.Failure(f"no landed file for week {week}: expected {landed}")
        try:
            result = read_weekly_file(landed)
        except UnreadableFileError as error:
            _reject(paths.rejected, landed, str(error))
            raise dg.Failure(f"{error} (the file was copied to {paths.rejected} with the reason)") from error
        source = {**source_record(landed), "rows_read": result.rows_read}
        replace_partition(result.kept, paths.raw(week), extra_files={SOURCE_FILE: source})
        replace_partition(result.quarantined, paths.quarantine(week))
        _add_new_regions(context, result.kept)
        context.log.info(f"week {week}: {result.rows_read} rows read, {result.kept.height} kept, {result.quarantined.height} quarantined")
        results.append(result)

    kept = pl.concat([r.kept for r in results])
    reasons: dict[str, int] = {}
    for result in results:
        for reason, count in result.reason_counts.items():
            reasons[reason] = reasons.get(reason, 0) + count
    return dg.MaterializeResult(
        metadata={
            **table_metadata(kept),
            "rows_read": sum(r.rows_read for r in results),
            "rows_quarantined": sum(r.quarantined.height for r in results),
            "quarantine_reasons": dg.MetadataValue.md(counts_markdown(reasons, "reason") if reasons else "none"),
            "column_spelling": ", ".join(sorted({r.column_spelling for r in results})),
            "baskets": kept["basket_id"].n_unique(),
            "store_regions": ", ".join(sorted(kept["store_region"].unique().to_list())),
            "lake_path": dg.MetadataValue.path(str(paths.raw())),
        }
    )


def _add_new_regions(context: dg.AssetExecutionContext, kept: pl.DataFrame) -> None:
    seen = set(kept["store_region"].unique().to_list())
    known = set(context.instance.get_dynamic_partitions(store_regions.name))
    new = sorted(seen - known)
    if new:
        context.instance.add_dynamic_partitions(store_regions.name, new)
        context.log.info(f"new store regions discovered: {', '.join(new)}")


def _reject(rejected_dir: Path, landed: Path, reason: str) -> None:
    rejected_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(landed, rejected_dir / landed.name)
    error = {"file": landed.name, "sha256": file_fingerprint(landed), "reason": reason}
    (rejected_dir / f"{landed.name}.error.json").write_text(json.dumps(error, indent=2))
