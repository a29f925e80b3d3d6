"""The candidate models: build, fit, compare on a time-based validation cut, and score.

Each candidate is a scikit-learn Pipeline that starts with a DictVectorizer, so it takes the
sparse feature dicts `retail_model.basket_features` makes. Classes are ordered by CODE_ORDER
in every metric. No Dagster import: this runs inside the training container.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler

from retail_assets.training.job import candidate_names
from retail_model.labels import CLASS_BY_CODE, TRAINABLE_CODES

log = logging.getLogger(__name__)

CODE_ORDER = list(TRAINABLE_CODES)  # LA, MM, UM: the order of per-class metrics and the matrix


def validation_split(weeks: np.ndarray, codes: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, dict]:
    """A boolean mask of validation rows: the latest train weeks holding >= `fraction` of rows."""
    distinct = np.unique(weeks)[::-1]
    counts = {week: int((weeks == week).sum()) for week in distinct}
    chosen: list[int] = []
    for week in distinct[:-1]:  # always leave at least one week to fit on
        chosen.append(int(week))
        if sum(counts[w] for w in chosen) >= fraction * len(weeks):
            break
    mask = np.isin(weeks, chosen)
    if chosen and len(np.unique(codes[~mask])) >= 2:
        how = f"latest train weeks holding >= {fraction:.0%} of train rows"
        return mask, {"method": "time", "how": how, "validation_weeks": sorted(chosen)}
    # One week only, or the early weeks lack a class: a seeded random cut is the honest fallback.
    mask = np.random.default_rng(seed).random(len(weeks)) < fraction
    reason = "train channel has a single week" if not chosen else "the earlier weeks hold only one class"
    return mask, {"method": "random", "how": f"seeded random {fraction:.0%} of train rows ({reason})", "validation_weeks": []}


def build_pipeline(name: str, hp: Mapping) -> Pipeline:
    n_jobs = int(hp["n_jobs"]) or None
    if name == "logistic_regression":
        # MaxAbsScaler keeps the matrix sparse: indicators stay 1, the log-scale numbers land in [0, 1].
        classifier = LogisticRegression(C=hp["C"], max_iter=hp["max_iter"], random_state=hp["seed"])
        return Pipeline([("vectorize", DictVectorizer()), ("scale", MaxAbsScaler()), ("classify", classifier)])
    from xgboost import XGBClassifier  # imported lazily: only this candidate pays for it

    classifier = XGBClassifier(
        tree_method="hist",
        n_estimators=hp["xgb_n_estimators"],
        max_depth=hp["xgb_max_depth"],
        learning_rate=hp["xgb_learning_rate"],
        random_state=hp["seed"],
        n_jobs=n_jobs,
    )
    return Pipeline([("vectorize", DictVectorizer(dtype=np.float32)), ("classify", classifier)])


def fit(name: str, hp: Mapping, rows: list[dict], codes: np.ndarray) -> tuple[Pipeline, list[str], dict]:
    """Fit on integer class positions (XGBoost needs 0..k-1); returns the codes in that order."""
    classes = [c for c in CODE_ORDER if c in set(codes)]
    position = {code: i for i, code in enumerate(classes)}
    started = time.perf_counter()
    with warnings.catch_warnings():
        # Weak regularisation often stops at max_iter with no loss in score; report it as a
        # number in metrics.json instead of a wall of warning text in the job log.
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline = build_pipeline(name, hp).fit(rows, np.array([position[c] for c in codes]))
    info: dict = {"fit_seconds": round(time.perf_counter() - started, 3)}
    if name == "logistic_regression":
        iterations = int(np.max(pipeline.named_steps["classify"].n_iter_))
        info |= {"iterations": iterations, "converged": iterations < hp["max_iter"]}
        if not info["converged"]:
            log.warning("%s stopped at max_iter=%d before converging", name, hp["max_iter"])
    return pipeline, classes, info


def predict_codes(pipeline: Pipeline, classes: list[str], rows: list[dict]) -> np.ndarray:
    return np.asarray(classes)[pipeline.predict(rows).astype(int)]


def compare_candidates(hp: Mapping, rows: list[dict], codes: np.ndarray, validation: np.ndarray) -> list[dict]:
    fit_rows = [r for r, v in zip(rows, validation, strict=True) if not v]
    validation_rows = [r for r, v in zip(rows, validation, strict=True) if v]
    results = []
    for name in candidate_names(hp):
        try:
            pipeline, classes, info = fit(name, hp, fit_rows, codes[~validation])
        except Exception as error:  # one broken candidate (e.g. no xgboost in the image) must not sink the rest
            log.exception("candidate %s failed to train", name)
            results.append({"name": name, "validation_macro_f1": None, "error": f"{type(error).__name__}: {error}"})
            continue
        predicted = predict_codes(pipeline, classes, validation_rows)
        score = float(f1_score(codes[validation], predicted, average="macro"))
        log.info("candidate %s: validation macro-F1 %.4f, fit %.1fs", name, score, info["fit_seconds"])
        accuracy = float(accuracy_score(codes[validation], predicted))
        results.append({"name": name, "validation_macro_f1": score, "validation_accuracy": accuracy, **info})
    trained = [r for r in results if r["validation_macro_f1"] is not None]
    if not trained:
        raise RuntimeError(f"every candidate failed to train: {[r['error'] for r in results]}")
    winner = max(trained, key=lambda r: r["validation_macro_f1"])  # ties go to the first listed
    for result in results:
        result["won"] = result is winner
    return results


def evaluate(true: np.ndarray, predicted: np.ndarray) -> dict:
    precision, recall, f1, support = precision_recall_fscore_support(true, predicted, labels=CODE_ORDER, zero_division=0)
    return {
        "accuracy": float(accuracy_score(true, predicted)),
        "macro_f1": float(f1_score(true, predicted, average="macro")),
        "per_class": {
            CLASS_BY_CODE[code]: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for code, p, r, f, s in zip(CODE_ORDER, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {
            "labels": [CLASS_BY_CODE[c] for c in CODE_ORDER],
            "codes": CODE_ORDER,
            "rows": "true class",
            "columns": "predicted class",
            "matrix": confusion_matrix(true, predicted, labels=CODE_ORDER).tolist(),
        },
    }
