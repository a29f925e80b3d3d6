import json

import dagster as dg
import polars as pl

from retail_assets.defs.lake.assets import gold_baskets
from retail_assets.feature_table import build_feature_table, feature_table_manifest
from retail_assets.lake import replace_partition, scan_table
from retail_assets.metadata import table_metadata
from retail_assets.resources import LakeResource
from retail_features import FEATURE_VERSION


@dg.asset(
    deps=[dg.AssetDep(gold_baskets, partition_mapping=dg.AllPartitionMapping())],
    kinds={"polars", "parquet"},
    group_name="features",
)
def basket_features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Model-ready features of every basket, computed by the same code the inference API runs."""
    gold = scan_table(lake.paths.gold())
    if gold is None:
        raise dg.Failure("gold_baskets has no data yet: materialize it first")
    table = build_feature_table(gold.collect())
    manifest = feature_table_manifest(table)
    replace_partition(table, lake.paths.features, extra_files={"_SCHEMA.json": manifest})
    widths = table["feature_names"].list.len()
    distinct = table.select(pl.col("feature_names").explode().n_unique()).item() if table.height else 0
    context.log.info(f"{table.height} baskets, {distinct} distinct features, version {FEATURE_VERSION}")
    return dg.MaterializeResult(
        metadata={
            **table_metadata(table.with_columns(pl.col("feature_names").list.head(6), pl.col("feature_values").list.head(6))),
            "feature_version": FEATURE_VERSION,
            "distinct_features": distinct,
            "mean_features_per_basket": float(widths.mean() or 0.0),
            "weeks": json.dumps(manifest["weeks"]),
        }
    )
