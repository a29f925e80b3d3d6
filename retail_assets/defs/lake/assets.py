from datetime import timedelta

import dagster as dg
import polars as pl

from retail_assets.defs.asset_keys import GOLD, RAW, SILVER
from retail_assets.defs.metadata import delta_metadata, table_metadata
from retail_assets.defs.partitions import region_and_basket_type
from retail_assets.lake import tables
from retail_assets.lake.transforms import gold_from_silver
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
    keys = context.partition_keys  # each access asks the instance again (~25 ms): once per step
    try:
        rebuild = tables.rebuild_silver(lake, _wanted(keys), _covers_every_partition(context, keys))
    except tables.MissingUpstreamError as error:
        raise dg.Failure(str(error)) from error
    if rebuild.quarantined_baskets:
        context.log.warning(
            f"{rebuild.quarantined_baskets} baskets ({rebuild.quarantined_lines} lines) disagree across their lines "
            f"and were set aside whole in {lake.table_uri(tables.BASKET_QUARANTINE)}"
        )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rebuild.preview, rows=rebuild.table_rows),
            **delta_metadata(lake.table_uri(tables.SILVER), rebuild.version, raw=rebuild.source_version),
            "partitions_written": len(keys),
            "weeks_rewritten": rebuild.weeks_rewritten(),
            "rows_rewritten": rebuild.rows,
            "baskets_quarantined": rebuild.quarantined_baskets,
            "lines_quarantined": rebuild.quarantined_lines,
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
    keys = context.partition_keys  # each access asks the instance again (~25 ms): once per step
    rebuild = _rebuild(context, keys, lake, tables.SILVER, tables.GOLD, gold_from_silver, summarize=_gold_totals)
    totals = rebuild.totals
    labels = {k.removeprefix("label:"): int(v) for k, v in sorted(totals.items()) if k.startswith("label:")}
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rebuild.preview.drop("lines"), rows=rebuild.table_rows),
            **delta_metadata(lake.table_uri(tables.GOLD), rebuild.version, silver=rebuild.source_version),
            "partitions_written": len(keys),
            "weeks_rewritten": rebuild.weeks_rewritten(),
            "rows_rewritten": rebuild.rows,
            "baskets_by_label": dg.MetadataValue.json(labels),
            "mean_lines_per_basket": totals.get("lines", 0) / max(rebuild.rows, 1),
            "inconsistent_baskets": int(totals.get("inconsistent", 0)),
        }
    )


def _gold_totals(gold: pl.DataFrame) -> dict[str, float]:
    labels = gold["basket_price_sensitivity"].value_counts()
    return {
        **{f"label:{label}": count for label, count in labels.iter_rows()},
        "lines": gold["n_lines"].sum(),
        "inconsistent": (gold["inconsistent_columns"] > 0).sum(),
    }


def _wanted(keys: list[dg.MultiPartitionKey]) -> list[tuple[str, str]]:
    """This run's (store_region, basket_type) partitions, one or all of them (a single-run backfill)."""
    return [(k.keys_by_dimension["store_region"], k.keys_by_dimension["basket_type"]) for k in keys]


def _covers_every_partition(context: dg.AssetExecutionContext, keys: list[dg.MultiPartitionKey]) -> bool:
    every = region_and_basket_type.get_partition_keys(dynamic_partitions_store=context.instance)
    return set(keys) >= set(every)


def _rebuild(
    context: dg.AssetExecutionContext, keys: list[dg.MultiPartitionKey], lake: Lake, source: str, target: str, transform, summarize
) -> tables.Rebuild:
    try:
        return tables.rebuild_region_partitions(
            lake, source, target, transform, _wanted(keys), _covers_every_partition(context, keys), summarize
        )
    except tables.MissingUpstreamError as error:
        raise dg.Failure(str(error)) from error
