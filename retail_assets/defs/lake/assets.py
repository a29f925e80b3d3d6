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
    raw = scan_table(lake.paths.raw())
    if raw is None:
        raise dg.Failure("raw_transactions has no data yet: land a weekly file and materialize it first")
    wanted = _wanted(context)
    frame = silver_from_raw(raw.filter(_in_partitions(wanted)).collect())
    written = _write_partitions(frame, wanted, lake.paths.silver)
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
    silver = scan_table(lake.paths.silver())
    if silver is None:
        raise dg.Failure("silver_transactions has no data yet: materialize it first")
    wanted = _wanted(context)
    frame = gold_from_silver(silver.filter(_in_partitions(wanted)).collect())
    written = _write_partitions(frame, wanted, lake.paths.gold)
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


def _wanted(context: dg.AssetExecutionContext) -> list[tuple[str, str]]:
    """The (store_region, basket_type) pairs this run covers: one, or all of a single-run backfill."""
    keys = context.partition_keys
    return [(k.keys_by_dimension["store_region"], k.keys_by_dimension["basket_type"]) for k in keys]


def _in_partitions(wanted: list[tuple[str, str]]) -> pl.Expr:
    pairs = pl.DataFrame(wanted, schema=["store_region", "basket_type"], orient="row")
    key = pl.concat_str("store_region", "basket_type", separator="|")
    return key.is_in(pairs.select(pl.concat_str("store_region", "basket_type", separator="|")).to_series().to_list())


def _write_partitions(frame: pl.DataFrame, wanted: list[tuple[str, str]], location) -> int:
    """Replace every requested partition; a pair with no rows becomes an empty partition, not a stale one."""
    groups = {key: part for key, part in frame.group_by("store_region", "basket_type")}
    for region, basket_type in wanted:
        part = groups.get((region, basket_type), frame.clear())
        replace_partition(part, location(region, basket_type))
    return len(wanted)
