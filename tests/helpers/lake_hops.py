"""The lake's hops as a Dagster run does them, through their plain functions: landing a week, then silver, gold and features."""

from pathlib import Path

from retail_assets.ingest import contract
from retail_assets.ingest.load import load_weeks
from retail_assets.ingest.watch import pending_files
from retail_assets.lake import tables
from retail_assets.lake.transforms import gold_from_silver
from retail_model.features.table import build_feature_table
from retail_model.lake import Lake


def land(lake: Lake, *paths: Path) -> None:
    for path in paths:
        lake.write_bytes(f"landing/{path.name}", path.read_bytes())
    load_weeks(lake, [p.landed for p in pending_files(lake)], run_id="test")


def build(lake: Lake) -> dict[str, tables.Rebuild]:
    """What one run of silver + gold over every partition, then features, does."""
    regions = lake.scan(tables.RAW).select("store_region").unique().collect()["store_region"].to_list()
    wanted = [(region, kind) for region in regions for kind in contract.BASKET_TYPES]
    return {
        tables.SILVER: tables.rebuild_silver(lake, wanted, complete=True),
        tables.GOLD: tables.rebuild_region_partitions(lake, tables.SILVER, tables.GOLD, gold_from_silver, wanted, complete=True),
        tables.FEATURES: tables.rebuild_table(lake, tables.GOLD, tables.FEATURES, build_feature_table),
    }
