"""What a person reads about a trained model: tables, the confusion matrix and the model card."""

from __future__ import annotations

import polars as pl

from retail_assets.reporting import markdown_table


def per_class_markdown(scores: dict) -> str:
    rows = [
        {"class": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}}
        for name, values in scores["per_class"].items()
    ]
    return markdown_table(pl.DataFrame(rows)) if rows else "(no baskets)"


def candidates_markdown(metrics: dict) -> str:
    """The candidate table: each candidate's best setting on the validation weeks."""
    rows = []
    for c in metrics.get("candidates", []):
        per_class = c.get("validation_per_class", {})
        rows.append(
            {
                "candidate": c["name"] + (" (won)" if c.get("won") else ""),
                "setting": ", ".join(f"{k}={v}" for k, v in c.get("params", {}).items()) or "-",
                "accuracy": _round(c.get("validation_accuracy")),
                "macro_f1": _round(c.get("validation_macro_f1")),
                **{f"{name} P/R": f"{_round(s['precision'])}/{_round(s['recall'])}" for name, s in per_class.items()},
                "fit_s": c.get("fit_seconds", "-"),
                "tried": c.get("settings_tried", 1),
                "note": _note(c),
            }
        )
    return markdown_table(pl.DataFrame(rows)) if rows else "(no candidates)"


def by_customer_markdown(metrics: dict) -> str:
    rows = [
        {"baskets": group, "n": scores.get("n", 0), "accuracy": _round(scores.get("accuracy")), "macro_f1": _round(scores.get("macro_f1"))}
        for group, scores in metrics.get("by_customer", {}).items()
    ]
    return markdown_table(pl.DataFrame(rows)) if rows else "(not reported)"


def top_features_markdown(metrics: dict, n: int = 8) -> str:
    top = metrics.get("top_features", {})
    if top.get("by_class"):
        rows = [
            {"class": name, "features": ", ".join(f"{f['feature']} ({f['weight']:+.2f})" for f in features[:n])}
            for name, features in top["by_class"].items()
        ]
    else:
        rows = [{"class": "all", "features": ", ".join(f"{f['feature']} ({f['weight']:.3f})" for f in top.get("overall", [])[:n]) or "-"}]
    return f"{top.get('kind', '')}\n\n" + markdown_table(pl.DataFrame(rows))


def gate_markdown(gate: dict) -> str:
    rows = [
        {"criterion": c["name"], "passed": "yes" if c["passed"] else "NO", "value": _round(c.get("value")),
         "threshold": _round(c.get("threshold")), "detail": c["detail"]}
        for c in gate.get("criteria", [])
    ]
    verdict = "**passed**" if gate.get("passed") else "**failed**"
    return f"Promotion gate {verdict}\n\n" + markdown_table(pl.DataFrame(rows))


def confusion_figure(metrics: dict):
    labels = metrics["confusion_matrix"]["labels"]
    matrix = metrics["confusion_matrix"]["matrix"]
    import matplotlib  # here, not with the code location: it costs about half a second to import

    matplotlib.use("Agg")  # headless: figures are rendered to PNG for the Dagster UI
    import matplotlib.pyplot as plt

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


def model_card(version: str, metrics: dict, gate: dict | None = None) -> str:
    split = metrics.get("split", {})
    hp = metrics.get("hyperparameters", {})
    trials = metrics.get("search", {}).get("trials", [])
    search_info = metrics.get("search", {})
    search = [
        {"rung": t.get("rung", 0), "candidate": t["name"], "setting": ", ".join(f"{k}={v}" for k, v in t.get("params", {}).items()) or "-",
         "fit_rows": t.get("n_fit", "-"), "validation_macro_f1": _round(t.get("validation_macro_f1")), "fit_s": t.get("fit_seconds", "-"),
         "stopped_because": t.get("stop_reason") or t.get("error") or "-"}
        for t in trials
    ]
    budget = search_info.get("budget_seconds")
    budget_line = (f"Budget {budget:.0f} s (0 = none); the search took {search_info.get('elapsed_seconds', '?')} s; "
                   f"best validation macro-F1 of each feature set by rung: {search_info.get('rungs', [])}") if budget is not None else ""
    lines = [
        f"# Basket price-sensitivity model {version}",
        "",
        "Predicts a basket's price sensitivity (High = LA, Medium = MM, Low = UM) from what is known at",
        "checkout: the products in the basket, store, time and the customer's segment when known.",
        "Unclassified (XX) baskets are excluded from training and from every figure below.",
        "",
        "## Data",
        f"- training weeks {_weeks(split.get('train_weeks'))} (candidates fitted on {_weeks(split.get('fit_weeks'))}, "
        f"chosen on {_weeks(split.get('validation_weeks'))}; {split.get('how', '')})",
        f"- test weeks {_weeks(split.get('test_weeks'))}, never seen by any choice",
        f"- baskets: train {metrics['n_train']:,}, test {metrics['n_test']:,}; unclassified left out {metrics.get('n_excluded_unclassified')}",
        f"- table versions (Delta): {metrics.get('data_versions', {})}",
        "",
        "## Features",
        f"- feature-set version {metrics.get('feature_version')} (`retail_model.basket_features`), {metrics.get('n_features', '?'):,} columns",
        "",
        top_features_markdown(metrics),
        "",
        "## Held-out test weeks",
        f"- winner **{metrics.get('winner')}** {metrics.get('winner_params', {})} on feature set {metrics.get('feature_set', 'all')}: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}",
        "",
        per_class_markdown(metrics),
        "",
        by_customer_markdown(metrics),
        "",
        "## Candidates (best setting of each, on the validation weeks)",
        candidates_markdown(metrics),
        "",
        f"## Search ({len(trials)} trials, search_size {hp.get('search_size', '?')}; each with its fit seconds and why it stopped)",
        budget_line,
        "",
        markdown_table(pl.DataFrame(search)) if search else "(none)",
        "",
        f"Hyperparameters: {hp}",
        f"Training time: {metrics.get('training_seconds', '?')} s",
        "",
        "## Promotion gate",
        gate_markdown(gate) if gate else "Not judged yet (see the registry entry once `registered_model` has run).",
    ]
    return "\n".join(lines) + "\n"


def _weeks(weeks: list | None) -> str:
    return f"{weeks[0]}..{weeks[-1]} ({len(weeks)})" if weeks else "-"


def _round(value):
    return round(value, 4) if isinstance(value, float) else ("-" if value is None else value)


def _note(candidate: dict) -> str:
    if candidate.get("error"):
        return f"failed: {candidate['error']}"[:80]
    if "converged" in candidate:
        return f"{candidate['iterations']} iterations, {'converged' if candidate['converged'] else 'NOT converged'}"
    if "boosting_rounds" in candidate:
        return f"{candidate['boosting_rounds']} rounds (early stopping)"
    return ""
