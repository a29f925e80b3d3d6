from datetime import timedelta

import dagster as dg

from retail_assets.defs.asset_keys import GOLD, RAW, SILVER
from retail_assets.defs.metadata import delta_metadata, table_metadata
from retail_assets.defs.partitions import region_and_basket_type
from retail_assets.lake import tables
from retail_assets.lake.transforms import gold_from_silver, silver_from_raw
from retail_model.lake import Lake


@dg.asset(
    key=SILVER,
    partitions_def=region_and_basket_type,
    deps=[dg.AssetDep(RAW, partition_mapping=dg.AllPartitionMapping())],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "deltalake"},
    group_name="lake",
)
def silver_transactions(context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake]) -> dg.MaterializeResult:
    """Clean transaction lines of every landed week, by store region and basket type."""
    rebuild = _rebuild(context, lake, tables.RAW, tables.SILVER, silver_from_raw)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rebuild.frame),
            **delta_metadata(lake.table_uri(tables.SILVER), rebuild.version, raw=rebuild.source_version),
            "partitions_written": len(context.partition_keys),
        }
    )


@dg.asset(
    key=GOLD,
    partitions_def=region_and_basket_type,
    deps=[SILVER],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "deltalake"},
    group_name="lake",
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7)),
)
def gold_baskets(context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake]) -> dg.MaterializeResult:
    """One row per shopping basket: its attributes, totals and product lines, by store region and basket type."""
    rebuild = _rebuild(context, lake, tables.SILVER, tables.GOLD, gold_from_silver)
    frame = rebuild.frame
    labels = frame["basket_price_sensitivity"].value_counts(sort=True)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(frame.drop("lines")),
            **delta_metadata(lake.table_uri(tables.GOLD), rebuild.version, silver=rebuild.source_version),
            "partitions_written": len(context.partition_keys),
            "baskets_by_label": dg.MetadataValue.json(dict(zip(*labels.to_dict(as_series=False).values(), strict=True))),
            "mean_lines_per_basket": float(frame["n_lines"].mean() or 0.0),
            "inconsistent_baskets": int((frame["inconsistent_columns"] > 0).sum()),
        }
    )


def _rebuild(context: dg.AssetExecutionContext, lake: Lake, source: str, target: str, transform) -> tables.Rebuild:
    """This run's (store_region, basket_type) partitions, one or all of them (a single-run backfill)."""
    wanted = [(k.keys_by_dimension["store_region"], k.keys_by_dimension["basket_type"]) for k in context.partition_keys]
    try:
        return tables.rebuild_region_partitions(lake, source, target, transform, wanted)
    except tables.MissingUpstreamError as error:
        raise dg.Failure(str(error)) from error
