from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl

from retail_assets.defs.ingest.assets import raw_transactions
from retail_assets.lake import replace_partition, scan_table
from retail_assets.lake_tables import gold_from_silver, silver_from_raw
from retail_assets.metadata import table_metadata
from retail_assets.partitions import region_and_basket_type
from retail_assets.resources import LakeResource


@dg.asset(
    partitions_def=region_and_basket_type,
    deps=[dg.AssetDep(raw_transactions, partition_mapping=dg.AllPartitionMapping())],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "parquet"},
    group_name="lake",
)
def silver_transactions(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Clean transaction lines of every landed week, by store region and basket type."""
    frame, written = _rebuild_partitions(context, lake.paths.raw(), "raw_transactions", silver_from_raw, lake.paths.silver)
    return dg.MaterializeResult(metadata={**table_metadata(frame), "partitions_written": written})


@dg.asset(
    partitions_def=region_and_basket_type,
    deps=[silver_transactions],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "parquet"},
    group_name="lake",
)
def gold_baskets(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """One row per shopping basket: its attributes, totals and product lines, by store region and basket type."""
    frame, written = _rebuild_partitions(context, lake.paths.silver(), "silver_transactions", gold_from_silver, lake.paths.gold)
    labels = frame["basket_price_sensitivity"].value_counts(sort=True)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(frame.drop("lines")),
            "partitions_written": written,
            "baskets_by_label": dg.MetadataValue.json(dict(zip(*labels.to_dict(as_series=False).values(), strict=True))),
            "mean_lines_per_basket": float(frame["n_lines"].mean() or 0.0),
            "inconsistent_baskets": int((frame["inconsistent_columns"] > 0).sum()),
        }
    )


def _rebuild_partitions(
    context: dg.AssetExecutionContext,
    source: Path,
    source_name: str,
    transform: Callable[[pl.DataFrame], pl.DataFrame],
    target: Callable[[str, str], Path],
) -> tuple[pl.DataFrame, int]:
    """Read the upstream rows of this run's partitions, transform them, replace each partition."""
    upstream = scan_table(source)
    if upstream is None:
        raise dg.Failure(f"{source_name} has no data yet: materialize it first")
    wanted = _wanted(context)
    frame = transform(upstream.filter(_in_partitions(wanted)).collect())
    return frame, _write_partitions(frame, wanted, target)


def _wanted(context: dg.AssetExecutionContext) -> list[tuple[str, str]]:
    """The (store_region, basket_type) pairs this run covers: one, or all of a single-run backfill."""
    keys = context.partition_keys
    return [(k.keys_by_dimension["store_region"], k.keys_by_dimension["basket_type"]) for k in keys]


def _in_partitions(wanted: list[tuple[str, str]]) -> pl.Expr:
    key = pl.concat_str("store_region", "basket_type", separator="|")
    return key.is_in([f"{region}|{basket_type}" for region, basket_type in wanted])


def _write_partitions(frame: pl.DataFrame, wanted: list[tuple[str, str]], location: Callable[[str, str], Path]) -> int:
    """Replace every requested partition; a pair with no rows becomes an empty partition, not a stale one."""
    groups = {key: part for key, part in frame.group_by("store_region", "basket_type")}
    for region, basket_type in wanted:
        part = groups.get((region, basket_type), frame.clear())
        replace_partition(part, location(region, basket_type))
    return len(wanted)
