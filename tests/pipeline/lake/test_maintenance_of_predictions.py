"""The weekly maintenance also compacts the prediction log, which the shipper appends to in many
small commits, without losing a row, and the shipper's appends go on while it runs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
from deltalake import DeltaTable

from retail_assets.lake.maintenance import maintain
from retail_model.lake import LocalLake
from retail_model.predictions import PARTITION_BY, PREDICTIONS_SCHEMA, PREDICTIONS_TABLE


def shipped_batch(batch: int, rows: int = 5) -> pl.DataFrame:
    """A shipper pass's rows, in the table's schema."""
    at = datetime(2026, 12, 1 + batch % 2, 10, batch, tzinfo=UTC)
    return pl.DataFrame(
        {
            "request_id": [f"req-{batch}"] * rows,
            "basket_id": [f"{batch}-{i}" for i in range(rows)],
            "model_version": ["v1"] * rows,
            "feature_version": ["f1"] * rows,
            "features_digest": ["0" * 64] * rows,
            "feature_names": [["log_lines"]] * rows,
            "feature_values": [[float(i)] for i in range(rows)],
            "probability_high": [0.2] * rows,
            "probability_medium": [0.3] * rows,
            "probability_low": [0.5] * rows,
            "predicted_code": ["UM"] * rows,
            "price_sensitivity": ["Low"] * rows,
            "predicted_at": [at] * rows,
            "date": [date(2026, 12, 1 + batch % 2)] * rows,
        },
        schema=PREDICTIONS_SCHEMA,
    )


def test_maintenance_compacts_the_prediction_log_and_lets_the_shipper_append_meanwhile(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    for batch in range(8):  # eight shipper passes over two days: sixteen small files
        lake.append(PREDICTIONS_TABLE, shipped_batch(batch), partition_by=list(PARTITION_BY))
    before = lake.scan(PREDICTIONS_TABLE).collect().sort("basket_id")
    # Maintenance reads the table, then the shipper commits a pass before maintenance commits.
    stale = DeltaTable(lake.table_uri(PREDICTIONS_TABLE), storage_options=lake.storage_options())
    lake.append(PREDICTIONS_TABLE, shipped_batch(8), partition_by=list(PARTITION_BY))
    compacted = stale.optimize.compact()
    assert compacted["numFilesRemoved"] > compacted["numFilesAdded"] >= 1

    done = {m.table: m for m in maintain(lake, retention_hours=0)}

    assert PREDICTIONS_TABLE in done
    after = lake.scan(PREDICTIONS_TABLE).collect().sort("basket_id")
    assert after.height == before.height + 5
    assert after.join(before, on=list(before.columns), how="anti").get_column("request_id").unique().to_list() == ["req-8"]
    assert done[PREDICTIONS_TABLE].files_after <= 3  # one file per date partition, plus at most the concurrent pass
    assert done[PREDICTIONS_TABLE].files_vacuumed > 0
