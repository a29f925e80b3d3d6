"""The predictions table: every answer the API gave, for monitoring (feature drift, live accuracy).

The API writes it (retail_api.prediction_log) and the monitoring assets read it, so its name,
schema and digest recipe live here, in the package both may import. One row per scored basket,
partitioned by the UTC `date` of `predicted_at`. `feature_names`/`feature_values` are the
basket's features exactly as the model saw them, in the layout of the `features` table, so a
drift check can compare serving with training feature by feature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import msgspec
import polars as pl

PREDICTIONS_TABLE = "predictions"
PARTITION_BY = ("date",)

PREDICTIONS_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String(),  # the HTTP request (one per batch): joins the API's logs and X-Request-ID
    "basket_id": pl.String(),
    "model_version": pl.String(),
    "feature_version": pl.String(),
    "features_digest": pl.String(),  # features_digest(features): equal digests, equal model inputs
    "feature_names": pl.List(pl.String()),
    "feature_values": pl.List(pl.Float64()),
    "probability_high": pl.Float64(),
    "probability_medium": pl.Float64(),
    "probability_low": pl.Float64(),
    "predicted_code": pl.String(),  # LA / MM / UM
    "price_sensitivity": pl.String(),  # High / Medium / Low
    "predicted_at": pl.Datetime("us", "UTC"),
    "date": pl.Date(),  # the UTC date of predicted_at: the partition
}

_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def features_digest(features: Mapping[str, float]) -> str:
    """sha256 (hex) of the features as compact JSON with sorted names, e.g. {"log_lines":1.9,...}."""
    return hashlib.sha256(_encode_sorted(features)).hexdigest()
