"""Every asset's key, in one place: hops refer to each other by these, never by retyped strings."""

import dagster as dg

RAW = dg.AssetKey("raw_transactions")
SILVER = dg.AssetKey("silver_transactions")
GOLD = dg.AssetKey("gold_baskets")
FEATURES = dg.AssetKey("basket_features")
MODEL = dg.AssetKey("price_sensitivity_model")
REGISTERED = dg.AssetKey("registered_model")
RELEASE = dg.AssetKey("api_release")
PREDICTION_LOG = dg.AssetKey("prediction_log")  # written by the API, not by Dagster: an external asset
FEATURE_DRIFT = dg.AssetKey("feature_drift")
LIVE_ACCURACY = dg.AssetKey("live_accuracy")
BASKET_PREDICTIONS = dg.AssetKey("basket_predictions")  # gold baskets scored in batch, per week
MAINTENANCE = dg.AssetKey("lake_maintenance")

# What one landing rebuilds in a single run (the rebuild_lake job, `retail-mlops materialize`):
# every silver/gold partition, and the unpartitioned feature table, which can share their run.
LAKE_REBUILD = (SILVER, GOLD, FEATURES)
