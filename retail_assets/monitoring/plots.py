"""The monitoring assets' plots and tables, as people see them in the Dagster UI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from retail_assets.monitoring.drift import FeatureDrift
from retail_model.labels import CLASS_BY_CODE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLOURS = {"High": "tab:red", "Medium": "tab:blue", "Low": "tab:green"}


def drift_table(drifts: Sequence[FeatureDrift]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "feature": [d.feature for d in drifts],
            "kind": [d.kind for d in drifts],
            "psi": [round(d.psi, 4) for d in drifts],
            "bins": [d.bins for d in drifts],
            "largest shift": [d.largest_shift for d in drifts],
        },
        schema={"feature": pl.String(), "kind": pl.String(), "psi": pl.Float64(), "bins": pl.Int64(), "largest shift": pl.String()},
    )


def drift_figure(drifts: Sequence[FeatureDrift], warn: float, fail: float) -> Figure:
    """PSI per feature, largest on top, with the warning and failure thresholds."""
    shown = list(drifts)[:20][::-1]
    from matplotlib.figure import Figure  # imported when drawing, not with the code location (~0.5 s)

    figure = Figure(figsize=(6.5, 0.28 * len(shown) + 1.2))
    axes = figure.subplots()
    colours = ["tab:red" if d.psi > fail else "tab:orange" if d.psi > warn else "tab:grey" for d in shown]
    axes.barh([d.feature for d in shown], [d.psi for d in shown], color=colours)
    axes.axvline(warn, color="tab:orange", linestyle="--", linewidth=1, label=f"warn {warn}")
    axes.axvline(fail, color="tab:red", linestyle="--", linewidth=1, label=f"fail {fail}")
    axes.set_xlabel("population stability index (serving vs training)")
    axes.legend(loc="lower right", fontsize="small")
    axes.tick_params(axis="y", labelsize="small")
    return figure


def accuracy_figure(weekly: pl.DataFrame, model_version: str, floor: float) -> Figure:
    """The serving model's precision (dashed) and recall (solid) per class by week, and its macro-F1."""
    mine = weekly.filter(pl.col("model_version") == model_version).sort("shop_week")
    from matplotlib.figure import Figure  # a bare Figure renders to PNG without pyplot's global state

    figure = Figure(figsize=(7, 3.6))
    axes = figure.subplots()
    weeks = [str(w) for w in mine.get_column("shop_week").to_list()]
    if weeks:
        for name in CLASS_BY_CODE.values():
            axes.plot(weeks, mine.get_column(f"{name} recall").to_list(), color=_COLOURS[name], marker="o", label=f"{name} recall")
            axes.plot(weeks, mine.get_column(f"{name} precision").to_list(), color=_COLOURS[name], linestyle="--", label=f"{name} precision")
        axes.plot(weeks, mine.get_column("macro_f1").to_list(), color="black", linewidth=2, marker="s", label="macro-F1")
    axes.axhline(floor, color="grey", linestyle=":", label=f"floor {floor}")
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("week the baskets were bought (labels from gold)")
    axes.set_title(f"model {model_version}: live scores by week", fontsize="medium")
    axes.tick_params(axis="x", labelrotation=45, labelsize="small")
    axes.legend(fontsize="x-small", ncol=2, loc="lower left")
    return figure


def rounded(frame: pl.DataFrame, digits: int = 3) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Float64).round(digits))
