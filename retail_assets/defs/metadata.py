"""Metadata people look at in the Dagster UI: row counts, schema, a preview, table versions, plots."""

from __future__ import annotations

import dagster as dg
import polars as pl

from retail_assets.reporting import markdown_table, png_base64


def table_metadata(frame: pl.DataFrame, preview_rows: int = 5, rows: int | None = None) -> dict[str, dg.MetadataValue]:
    """Row count (of the table written, when `frame` is only a preview of it), schema and a preview."""
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height if rows is None else rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(table_schema(frame.schema)),
        "preview": dg.MetadataValue.md(markdown_table(frame.head(preview_rows))),
    }


def delta_metadata(uri: str, version: int, **read: int) -> dict[str, dg.MetadataValue]:
    """The Delta table a hop wrote (address and version) and the versions of what it read."""
    metadata: dict[str, dg.MetadataValue] = {
        "table_uri": dg.MetadataValue.path(uri),
        "table_version": dg.MetadataValue.int(version),
    }
    for table, source_version in read.items():
        metadata[f"read_{table}_version"] = dg.MetadataValue.int(source_version)
    return metadata


def table_schema(schema: pl.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in schema.items()])


def png_markdown(figure, alt: str) -> dg.MetadataValue:
    """A matplotlib figure inline in the UI."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{png_base64(figure)})")


def latest_materialization_value(instance: dg.DagsterInstance, key: dg.AssetKey, name: str) -> str:
    """One metadata value of the latest materialization of `key` (e.g. the model version)."""
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{key.to_user_string()} has not been materialized yet")
    value = event.asset_materialization.metadata.get(name)
    if value is None:
        raise dg.Failure(f"the latest {key.to_user_string()} materialization has no {name!r} metadata")
    return str(value.value)
