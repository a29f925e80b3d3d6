"""What people read in the Dagster UI and in model cards: markdown tables and small PNG plots.

Plain logic, so the training report and the monitoring assets share it.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A bare matplotlib Figure: it renders to PNG without pyplot's global state or a display.

    matplotlib is imported here, when a plot is drawn, not when the code location loads: every run
    worker and the UI import the modules that draw, and most runs draw nothing.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def png_base64(figure: Figure) -> str:
    """A matplotlib figure as base64 PNG (kept small: it ends up in the event log)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")[:120]
