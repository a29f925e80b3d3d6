from datetime import timedelta

import dagster as dg
import polars as pl

from retail_assets.defs.asset_keys import FEATURES, GOLD
from retail_assets.defs.metadata import delta_metadata, table_metadata
from retail_model.features.table import build_feature_table
from retail_assets.lake import tables
from retail_model import FEATURE_VERSION
from retail_model.lake import Lake


# A gold row is a whole basket, and its features are lists of ~65 names and values: 100k baskets
# take about the memory of the 300k lines the other rebuilds hold (bench/ingest.py: the peak RSS
# was in this step, 1.8 GB at 300k baskets).
BASKETS_PER_CHUNK = 100_000


@dg.asset(
    key=FEATURES,
    deps=[dg.AssetDep(GOLD, partition_mapping=dg.AllPartitionMapping())],
    kinds={"polars", "deltalake"},
    group_name="features",
    automation_condition=dg.AutomationCondition.eager(),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7)),
)
def basket_features(context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake]) -> dg.MaterializeResult:
    """Model-ready features of every basket: the feature definition the inference API also computes (two implementations proven equal).

    Only the weeks gold rewrote since the last build are recomputed (`weeks_rewritten`)."""
    try:
        rebuild = tables.rebuild_table(
            lake, tables.GOLD, tables.FEATURES, build_feature_table, summarize=_feature_totals, rows_per_chunk=BASKETS_PER_CHUNK
        )
    except tables.MissingUpstreamError as error:
        raise dg.Failure(str(error)) from error
    totals = rebuild.totals
    context.log.info(
        f"{rebuild.rows} baskets of weeks {rebuild.weeks_rewritten()} rewritten, feature version {FEATURE_VERSION}, "
        f"table version {rebuild.version}"
    )
    preview = rebuild.preview.with_columns(pl.col("feature_names").list.head(6), pl.col("feature_values").list.head(6))
    return dg.MaterializeResult(
        metadata={
            **table_metadata(preview, rows=rebuild.table_rows),
            **delta_metadata(lake.table_uri(tables.FEATURES), rebuild.version, gold=rebuild.source_version),
            "feature_version": FEATURE_VERSION,
            "weeks_rewritten": rebuild.weeks_rewritten(),
            "rows_rewritten": rebuild.rows,
            "mean_features_per_basket": totals.get("features", 0) / max(rebuild.rows, 1),
        }
    )


def _feature_totals(table: pl.DataFrame) -> dict[str, float]:
    return {"features": table["feature_names"].list.len().sum()}
