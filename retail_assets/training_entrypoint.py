"""SageMaker-contract training entrypoint: basket feature parquet -> model.joblib + metrics.json.

Runs unchanged as a local subprocess or as a SageMaker training job (no Dagster import):

    SM_MODEL_DIR=out SM_CHANNEL_TRAIN=features/train SM_CHANNEL_TEST=features/test \\
    SM_HPS='{"C": 100}' python -m retail_assets.training_entrypoint [--C 300 --seed 7]

Candidates are compared on the train channel's latest weeks (validation), the winner is refit on
the whole train channel and scored once on the test channel, which no choice ever looks at.
See docs/training.md for the hyperparameters and every metrics.json field.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler

from retail_features.features import FEATURE_VERSION
from retail_features.labels import CLASS_BY_CODE, TRAINABLE_CODES, UNCLASSIFIED_CODE
from retail_features.model_artifact import PriceSensitivityModel

log = logging.getLogger("retail_assets.training_entrypoint")  # not __main__ under -m

# Weak regularisation wins on the real data (DESIGN: macro-F1 0.99 at C = 100-1000).
HYPERPARAMETER_DEFAULTS: dict[str, int | float | str] = {
    "C": 100.0,
    "max_iter": 300,
    "candidates": "logistic_regression,xgboost",
    "seed": 42,
    "validation_fraction": 0.15,
    "xgb_n_estimators": 200,
    "xgb_max_depth": 6,
    "xgb_learning_rate": 0.3,
    "n_jobs": 0,  # 0 = every core the machine has
}
CANDIDATES = ("logistic_regression", "xgboost")
FEATURE_COLUMNS = ("basket_id", "shop_week", "basket_price_sensitivity", "feature_names", "feature_values")
CODE_ORDER = list(TRAINABLE_CODES)  # LA, MM, UM: the order of per-class metrics and the matrix


class TrainingInputError(Exception):
    """The job cannot train on what it was given (missing channel, no rows, one class, bad value)."""


@dataclass(frozen=True)
class TrainingJob:
    model_dir: Path
    train_dir: Path
    test_dir: Path
    output_data_dir: Path | None
    hyperparameters: dict[str, int | float | str]


@dataclass(frozen=True)
class Channel:
    name: str
    frame: pl.DataFrame  # trainable rows only
    n_unclassified: int

    def features(self) -> list[dict[str, float]]:
        """The sparse dicts `basket_features` produced, rebuilt from the two list columns."""
        rows = []
        columns = ("basket_id", "feature_names", "feature_values")
        for basket_id, names, values in zip(*(self.frame[c].to_list() for c in columns), strict=True):
            names, values = names or [], values or []
            if len(names) != len(values):
                raise TrainingInputError(
                    f"{self.name} channel basket {basket_id} has {len(names)} feature names but {len(values)} values"
                )
            rows.append(dict(zip(names, values, strict=True)))
        return rows

    def codes(self) -> np.ndarray:
        return self.frame["basket_price_sensitivity"].to_numpy()

    def weeks(self) -> np.ndarray:
        return self.frame["shop_week"].to_numpy()


def parse_job(argv: Sequence[str] | None, environ: Mapping[str, str]) -> TrainingJob:
    """SageMaker's contract: paths and SM_HPS from the environment, `--name value` args win."""
    parser = argparse.ArgumentParser(prog="python -m retail_assets.training_entrypoint", description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", "--model-dir", default=environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--train", default=environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    parser.add_argument("--test", default=environ.get("SM_CHANNEL_TEST", "/opt/ml/input/data/test"))
    parser.add_argument("--output_data_dir", "--output-data-dir", default=environ.get("SM_OUTPUT_DATA_DIR"))
    for name, default in HYPERPARAMETER_DEFAULTS.items():
        parser.add_argument(f"--{name}", default=None, help=f"default {default!r}")
    args = parser.parse_args(argv)

    try:
        from_environment = json.loads(environ.get("SM_HPS") or "{}")
    except json.JSONDecodeError as error:
        raise TrainingInputError(f"SM_HPS is not a JSON object: {error}") from error
    if not isinstance(from_environment, dict):
        raise TrainingInputError(f"SM_HPS must be a JSON object, got {type(from_environment).__name__}")
    # SageMaker adds its own sagemaker_* entries; anything else unknown is a typo worth stopping for.
    unknown = sorted(k for k in from_environment if k not in HYPERPARAMETER_DEFAULTS and not k.startswith("sagemaker_"))
    if unknown:
        raise TrainingInputError(f"unknown hyperparameters {unknown} in SM_HPS; known: {sorted(HYPERPARAMETER_DEFAULTS)}")
    hyperparameters = dict(HYPERPARAMETER_DEFAULTS)
    for name in HYPERPARAMETER_DEFAULTS:
        for source in (from_environment.get(name), getattr(args, name)):
            if source is not None:
                hyperparameters[name] = _coerce(name, source)
    _validate(hyperparameters)
    output = Path(args.output_data_dir) if args.output_data_dir else None
    return TrainingJob(Path(args.model_dir), Path(args.train), Path(args.test), output, hyperparameters)


def _coerce(name: str, value: object) -> int | float | str:
    target = type(HYPERPARAMETER_DEFAULTS[name])
    try:
        if target is str:
            return ",".join(map(str, value)) if isinstance(value, list) else str(value)
        number = float(value)  # SageMaker hands every hyperparameter over as a string
        if target is int:
            if not number.is_integer():
                raise ValueError("not a whole number")
            return int(number)
        return number
    except (TypeError, ValueError) as error:
        raise TrainingInputError(f"hyperparameter {name}={value!r} is not a valid {target.__name__}") from error


def _validate(hyperparameters: dict) -> None:
    candidates = candidate_names(hyperparameters)
    unknown = [c for c in candidates if c not in CANDIDATES]
    if not candidates or unknown:
        raise TrainingInputError(f"candidates={hyperparameters['candidates']!r}: choose a comma list from {CANDIDATES}")
    if hyperparameters["C"] <= 0:
        raise TrainingInputError("hyperparameter C must be > 0 (inverse regularisation strength)")
    if not 0 < hyperparameters["validation_fraction"] < 1:
        raise TrainingInputError("hyperparameter validation_fraction must be between 0 and 1")
    for name in ("max_iter", "xgb_n_estimators", "xgb_max_depth"):
        if hyperparameters[name] < 1:
            raise TrainingInputError(f"hyperparameter {name} must be >= 1")


def candidate_names(hyperparameters: Mapping) -> list[str]:
    return [c.strip() for c in str(hyperparameters["candidates"]).split(",") if c.strip()]


def read_channel(name: str, directory: Path) -> Channel:
    """Every *.parquet under the channel (nested folders too), XX rows counted then dropped."""
    if not directory.is_dir():
        raise TrainingInputError(f"{name} channel {directory} does not exist; set SM_CHANNEL_{name.upper()} or --{name}")
    files = sorted(p for p in directory.rglob("*.parquet") if p.is_file() and not p.name.startswith((".", "_")))
    if not files:
        raise TrainingInputError(f"{name} channel {directory} holds no *.parquet files")
    frames = []
    for path in files:
        missing = [c for c in FEATURE_COLUMNS if c not in pl.read_parquet_schema(path)]
        if missing:
            raise TrainingInputError(f"{path} lacks columns {missing}; the feature table needs {list(FEATURE_COLUMNS)}")
        frame = pl.read_parquet(path, columns=list(FEATURE_COLUMNS), hive_partitioning=False)
        frames.append(frame.with_columns(pl.col("shop_week").cast(pl.Int64), pl.col("basket_price_sensitivity").cast(pl.String)))
    frame = pl.concat(frames, how="vertical_relaxed")
    if frame["shop_week"].null_count():
        missing = frame["shop_week"].null_count()
        raise TrainingInputError(f"{name} channel has {missing} rows without shop_week; the time split needs it")
    codes = frame["basket_price_sensitivity"]
    unknown = sorted({str(c) for c in codes.to_list() if c not in CLASS_BY_CODE and c != UNCLASSIFIED_CODE})
    if unknown:
        expected = [*CODE_ORDER, UNCLASSIFIED_CODE]
        raise TrainingInputError(f"{name} channel has basket_price_sensitivity values {unknown}; expected {expected}")
    trainable = frame.filter(pl.col("basket_price_sensitivity") != UNCLASSIFIED_CODE)
    if trainable.height == 0:
        raise TrainingInputError(f"{name} channel {directory} has {frame.height} rows but none with a trainable label (all XX)")
    present = sorted(set(trainable["basket_price_sensitivity"].to_list()))
    if len(present) < 2:
        raise TrainingInputError(f"{name} channel {directory} has only one class ({present[0]}); a classifier needs at least two")
    unclassified = frame.height - trainable.height
    log.info("%s channel: %d files, %d rows, %d unclassified (XX) excluded", name, len(files), frame.height, unclassified)
    return Channel(name, trainable, unclassified)


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


def train(job: TrainingJob) -> dict:
    """Run the whole job; returns the metrics it wrote to `job.model_dir / metrics.json`."""
    started = time.perf_counter()
    hp = job.hyperparameters
    train_channel, test_channel = read_channel("train", job.train_dir), read_channel("test", job.test_dir)
    rows, codes, weeks = train_channel.features(), train_channel.codes(), train_channel.weeks()
    validation, split = validation_split(weeks, codes, hp["validation_fraction"], hp["seed"])
    candidates = compare_candidates(hp, rows, codes, validation)
    winner = next(c["name"] for c in candidates if c["won"])

    pipeline, classes, refit = fit(winner, hp, rows, codes)
    log.info("refit %s on %d train rows in %.1fs", winner, len(rows), refit["fit_seconds"])
    test_rows, test_codes = test_channel.features(), test_channel.codes()
    predicted = predict_codes(pipeline, classes, test_rows)
    test_weeks = sorted(set(test_channel.weeks().tolist()))
    overlap = set(train_channel.frame["basket_id"].to_list()) & set(test_channel.frame["basket_id"].to_list())
    metrics = {
        **evaluate(test_codes, predicted),
        "n_train": len(rows),
        "n_test": len(test_rows),
        "n_excluded_unclassified": {"train": train_channel.n_unclassified, "test": test_channel.n_unclassified},
        "split": {
            **split,
            "train_weeks": sorted(set(weeks.tolist())),
            "fit_weeks": sorted(set(weeks[~validation].tolist())),
            "test_weeks": test_weeks,
            "n_fit": int((~validation).sum()),
            "n_validation": int(validation.sum()),
            "test": "the test channel as given, scored once by the refit winner",
            "test_weeks_overlap_train": sorted(set(test_weeks) & set(weeks.tolist())),
            "basket_ids_in_both_channels": len(overlap),
        },
        "candidates": candidates,
        "winner": winner,
        "refit": refit,
        "classes": classes,
        "n_features": len(pipeline.named_steps["vectorize"].feature_names_),
        "feature_version": FEATURE_VERSION,
        "hyperparameters": dict(hp),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    metadata = {
        "classes": classes,
        "feature_version": FEATURE_VERSION,
        "candidate": winner,
        "hyperparameters": dict(hp),
        "trained_at": metrics["trained_at"],
    }
    model = PriceSensitivityModel(pipeline, metadata)
    model.save(job.model_dir)
    metrics["training_seconds"] = round(time.perf_counter() - started, 3)
    _write_json(job.model_dir / "metrics.json", metrics)
    if job.output_data_dir is not None:
        _write_outputs(job.output_data_dir, metrics, test_channel, test_codes, model.predict_dicts(test_rows))
    log.info("test macro-F1 %.4f, accuracy %.4f on %d baskets", metrics["macro_f1"], metrics["accuracy"], len(test_rows))
    return metrics


def _write_outputs(directory: Path, metrics: dict, test: Channel, true: np.ndarray, predictions: list) -> None:
    """Extras for people and monitoring: the metrics again and every test prediction."""
    _write_json(directory / "metrics.json", metrics)
    pl.DataFrame(
        {
            "basket_id": test.frame["basket_id"],
            "shop_week": test.frame["shop_week"],
            "true_code": true,
            "predicted_code": [p.code for p in predictions],
            **{f"probability_{name}": [p.probabilities[name] for p in predictions] for name in CLASS_BY_CODE.values()},
        }
    ).write_parquet(directory / "test_predictions.parquet")


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")  # insertion order: High, Medium, Low


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    try:
        metrics = train(parse_job(argv, environ))
    except TrainingInputError as error:
        _report_failure(environ, f"training input error: {error}")
        return 1
    except Exception:
        _report_failure(environ, f"training failed unexpectedly:\n{traceback.format_exc()}")
        return 1
    print(json.dumps({"macro_f1": metrics["macro_f1"], "accuracy": metrics["accuracy"], "winner": metrics["winner"]}))
    return 0


def _report_failure(environ: Mapping[str, str], message: str) -> None:
    """stderr for people, SM_OUTPUT_DIR/failure for SageMaker's FailureReason."""
    print(message, file=sys.stderr)
    if environ.get("SM_OUTPUT_DIR"):
        _write_text_safely(Path(environ["SM_OUTPUT_DIR"]) / "failure", message)


def _write_text_safely(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as error:
        print(f"could not write {path}: {error}", file=sys.stderr)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(main())
