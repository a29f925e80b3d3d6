"""Metadata people look at in the Dagster UI: row counts, schema, a preview of the table."""

from __future__ import annotations

import base64
import io

import dagster as dg
import polars as pl


def table_metadata(frame: pl.DataFrame, preview_rows: int = 5) -> dict[str, dg.MetadataValue]:
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "dagster/column_schema": dg.MetadataValue.table_schema(table_schema(frame.schema)),
        "preview": dg.MetadataValue.md(markdown_table(frame.head(preview_rows))),
    }


def table_schema(schema: pl.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in schema.items()])


def markdown_table(frame: pl.DataFrame) -> str:
    if frame.width == 0:
        return "_(no columns)_"
    lines = [
        "| " + " | ".join(frame.columns) + " |",
        "|" + "---|" * frame.width,
        *("| " + " | ".join(_cell(value) for value in row) + " |" for row in frame.rows()),
    ]
    return "\n".join(lines)


def counts_markdown(counts: dict[str, int], key: str = "value") -> str:
    return markdown_table(pl.DataFrame({key: list(counts), "count": list(counts.values())}))


def png_markdown(figure, alt: str) -> dg.MetadataValue:
    """A matplotlib figure inline in the UI (kept small: the string lives in the event log)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")[:120]
