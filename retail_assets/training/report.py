"""What a person reads about a trained model: the confusion matrix and the model card."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")  # headless: figures are rendered to PNG for the Dagster UI
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from retail_assets.reporting import markdown_table  # noqa: E402


def per_class_markdown(metrics: dict) -> str:
    rows = [
        {"class": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}}
        for name, scores in metrics["per_class"].items()
    ]
    return markdown_table(pl.DataFrame(rows))


def confusion_figure(metrics: dict):
    labels = metrics["confusion_matrix"]["labels"]
    matrix = metrics["confusion_matrix"]["matrix"]
    figure, axes = plt.subplots(figsize=(3.6, 3.0))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            axes.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    axes.set_title(f"test macro-F1 {metrics['macro_f1']:.3f}")
    plt.close(figure)
    return figure


def model_card(version: str, metrics: dict) -> str:
    candidates = metrics.get("candidates", {})
    return "\n".join(
        [
            f"# Basket price-sensitivity model {version}",
            "",
            "Predicts a basket's price sensitivity (High = LA, Medium = MM, Low = UM) from what is known at",
            "checkout: the products in the basket, store, time and the customer's segment when known.",
            "Unclassified (XX) baskets are excluded from training and from every figure below.",
            "",
            "## Held-out test set",
            f"- split: {metrics.get('split')}",
            f"- baskets: train {metrics['n_train']}, test {metrics['n_test']}",
            f"- accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}",
            "",
            per_class_markdown(metrics),
            "",
            "## Candidates (chosen on a validation split of the training weeks)",
            "```",
            _pretty(candidates),
            "```",
            "",
            f"Feature version {metrics.get('feature_version')}; hyperparameters {metrics.get('hyperparameters')}.",
        ]
    )


def _pretty(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
