from datetime import timedelta

import dagster as dg
import polars as pl

from retail_assets.defs.asset_keys import FEATURES, GOLD
from retail_assets.defs.metadata import delta_metadata, table_metadata
from retail_assets.features.table import build_feature_table
from retail_assets.lake import tables
from retail_model import FEATURE_VERSION
from retail_model.lake import Lake


@dg.asset(
    key=FEATURES,
    deps=[dg.AssetDep(GOLD, partition_mapping=dg.AllPartitionMapping())],
    kinds={"polars", "deltalake"},
    group_name="features",
    automation_condition=dg.AutomationCondition.eager(),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7)),
)
def basket_features(context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake]) -> dg.MaterializeResult:
    """Model-ready features of every basket, computed by the same code the inference API runs."""
    try:
        gold = tables.read_upstream(lake, tables.GOLD)
    except tables.MissingUpstreamError as error:
        raise dg.Failure(str(error)) from error
    table = build_feature_table(gold.frame.collect())
    version = lake.overwrite_table(tables.FEATURES, table, lineage={tables.GOLD: gold.version})
    distinct = table.select(pl.col("feature_names").explode().n_unique()).item() if table.height else 0
    context.log.info(f"{table.height} baskets, {distinct} distinct features, version {FEATURE_VERSION}")
    weeks = sorted(table["shop_week"].unique().to_list())
    return dg.MaterializeResult(
        metadata={
            **table_metadata(table.with_columns(pl.col("feature_names").list.head(6), pl.col("feature_values").list.head(6))),
            **delta_metadata(lake.table_uri(tables.FEATURES), version, gold=gold.version),
            "feature_version": FEATURE_VERSION,
            "distinct_features": distinct,
            "mean_features_per_basket": float(table["feature_names"].list.len().mean() or 0.0),
            "weeks": ", ".join(map(str, weeks)),
        }
    )
