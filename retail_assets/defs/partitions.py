"""Partitions of the lake: one per landed week, and store_region x basket_type downstream."""

import dagster as dg

from retail_assets.ingest.contract import BASKET_TYPES

# One partition per landed weekly file, added by the landing sensor (or the CLI) as files land.
shop_weeks = dg.DynamicPartitionsDefinition(name="shop_weeks")

# Regions are data: raw_transactions adds every region it sees.
store_regions = dg.DynamicPartitionsDefinition(name="store_regions")

region_and_basket_type = dg.MultiPartitionsDefinition(
    {"store_region": store_regions, "basket_type": dg.StaticPartitionsDefinition(list(BASKET_TYPES))}
)


def every_region_and_basket_type(instance: dg.DagsterInstance) -> dict[str, str]:
    """Run tags that cover every store_region x basket_type partition in one run (single-run backfill)."""
    keys = region_and_basket_type.get_partition_keys(dynamic_partitions_store=instance)
    if not keys:
        return {}
    return {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


def week_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that ingest the weeks first..last (in partition order) in one run."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
