"""The SageMaker training-job contract: what a job is given and how it is read.

Paths come from SM_MODEL_DIR / SM_CHANNEL_TRAIN / SM_CHANNEL_TEST / SM_OUTPUT_DATA_DIR /
SM_CHECKPOINT_DIR (defaults: SageMaker's /opt/ml layout), hyperparameters from SM_HPS or, in a
SageMaker job, /opt/ml/input/config/hyperparameters.json, and `--name value` arguments override
both. Everything here checks
its input and raises TrainingInputError with a message saying what to fix.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from retail_model.labels import CLASS_BY_CODE, TRAINABLE_CODES, UNCLASSIFIED_CODE

log = logging.getLogger(__name__)

# In the train channel: the table versions the channels were cut from (copied into metrics.json).
LINEAGE_FILE = "_lineage.json"

# Grids are comma lists; `search_size` cuts each to that many values spread over it (0 = all).
# The defaults are chosen on both sample profiles (docs/training.md): linear SVM and XGBoost are
# left out because on neither did they earn their time (they can still be listed).
HYPERPARAMETER_DEFAULTS: dict[str, int | float | str] = {
    "candidates": "baseline,complement_nb,logistic_regression,nb_lr_blend",  # cheap first: they set the bar early
    "search_size": 0,
    "seed": 42,
    "validation_fraction": 0.15,
    # The search's time budget in seconds (0 = none): a trial that cannot finish, or cannot beat
    # the best so far, in what is left is stopped and recorded as such. The refit comes after it.
    "budget_seconds": 60.0,
    # Feature sets to choose between: '+'-joined families (products, hierarchy, basket).
    "feature_sets": "hierarchy,products,products+hierarchy,products+hierarchy+basket",
    "halving_eta": 3,  # successive halving: each rung keeps the best 1/eta feature sets on eta x the rows (1 = off)
    "path_patience": 2,  # a C path stops after this many settings in a row below its best
    "logistic_C": "0.01,0.1,1,10,100,1000",  # inverse regularisation, a decade apart: the path, ascending
    "max_iter": 1000,  # lbfgs iterations; metrics.json records whether each fit converged
    "nb_alpha": "0.03,0.1,0.2,0.5,1",  # additive smoothing of complement naive Bayes
    "svm_C": "0.03,0.1,0.3",  # inverse regularisation of the linear SVM
    "xgb_max_depth": "6,3",
    "xgb_learning_rate": "0.3,0.1",  # shrinkage, searched
    "blend_weight": "0.7,0.5,0.3",  # nb_lr_blend: complement_nb's share of the vote; every value is tried
    "xgb_n_estimators": 500,  # most boosting rounds; early stopping on the validation weeks picks fewer
    "xgb_early_stopping_rounds": 20,
    "n_jobs": 0,  # 0 = every core the machine has
}
# The names `candidates` may list; candidates.build_classifier builds each one.
CANDIDATES = ("baseline", "logistic_regression", "complement_nb", "linear_svm", "xgboost", "nb_lr_blend")
# The soft vote of two fitted candidates: it needs both in `candidates`, listed before it.
BLEND_MEMBERS = {"nb_lr_blend": ("complement_nb", "logistic_regression")}
# Hyperparameters holding a comma list of numbers (a search grid), and the type of their values.
GRIDS: dict[str, type] = {
    "logistic_C": float, "nb_alpha": float, "svm_C": float, "xgb_max_depth": int, "xgb_learning_rate": float, "blend_weight": float,
}
FEATURE_COLUMNS = ("basket_id", "shop_week", "basket_price_sensitivity", "feature_names", "feature_values")
# --help describes the script people run (training_entrypoint), not this module.
_DESCRIPTION = "SageMaker-contract training entrypoint: basket feature parquet -> model.joblib + metrics.json."


class TrainingInputError(Exception):
    """The job cannot train on what it was given (missing channel, no rows, one class, bad value)."""


@dataclass(frozen=True)
class TrainingJob:
    model_dir: Path
    train_dir: Path
    test_dir: Path
    output_data_dir: Path | None
    hyperparameters: dict[str, int | float | str]
    checkpoint_dir: Path | None = None  # managed spot training: finished search trials survive a restart


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
    parser = argparse.ArgumentParser(prog="python -m retail_training.entrypoint", description=_DESCRIPTION)
    parser.add_argument("--model_dir", "--model-dir", default=environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--train", default=environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    parser.add_argument("--test", default=environ.get("SM_CHANNEL_TEST", "/opt/ml/input/data/test"))
    parser.add_argument("--output_data_dir", "--output-data-dir", default=environ.get("SM_OUTPUT_DATA_DIR"))
    parser.add_argument("--checkpoint_dir", "--checkpoint-dir", default=environ.get("SM_CHECKPOINT_DIR"))
    for name, default in HYPERPARAMETER_DEFAULTS.items():
        parser.add_argument(f"--{name}", default=None, help=f"default {default!r}")
    args = parser.parse_args(argv)

    given = _given_hyperparameters(environ)
    # SageMaker adds its own sagemaker_* entries; anything else unknown is a typo worth stopping for.
    unknown = sorted(k for k in given if k not in HYPERPARAMETER_DEFAULTS and not k.startswith("sagemaker_"))
    if unknown:
        raise TrainingInputError(f"unknown hyperparameters {unknown}; known: {sorted(HYPERPARAMETER_DEFAULTS)}")
    hyperparameters = dict(HYPERPARAMETER_DEFAULTS)
    for name in HYPERPARAMETER_DEFAULTS:
        for source in (given.get(name), getattr(args, name)):
            if source is not None:
                hyperparameters[name] = _coerce(name, source)
    _validate(hyperparameters)
    output = Path(args.output_data_dir) if args.output_data_dir else None
    checkpoints = Path(args.checkpoint_dir) if args.checkpoint_dir else None
    return TrainingJob(Path(args.model_dir), Path(args.train), Path(args.test), output, hyperparameters, checkpoints)


def _given_hyperparameters(environ: Mapping[str, str]) -> dict:
    """SM_HPS (script mode, local runs), else SageMaker's own hyperparameters.json.

    A SageMaker job whose container entrypoint is this script gets no SM_* variables: SageMaker
    writes the job's HyperParameters (every value a string) to /opt/ml/input/config instead.
    """
    if environ.get("SM_HPS"):
        source, text = "SM_HPS", environ["SM_HPS"]
    else:
        path = Path(environ.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")) / "hyperparameters.json"
        if not path.is_file():
            return {}
        source, text = str(path), path.read_text()
    try:
        given = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise TrainingInputError(f"{source} is not a JSON object: {error}") from error
    if not isinstance(given, dict):
        raise TrainingInputError(f"{source} must be a JSON object, got {type(given).__name__}")
    return given


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
    if not 0 < hyperparameters["validation_fraction"] < 1:
        raise TrainingInputError("hyperparameter validation_fraction must be between 0 and 1")
    for name in ("max_iter", "xgb_n_estimators", "xgb_early_stopping_rounds", "halving_eta", "path_patience"):
        if hyperparameters[name] < 1:
            raise TrainingInputError(f"hyperparameter {name} must be >= 1")
    for name in ("search_size", "budget_seconds"):
        if hyperparameters[name] < 0:
            raise TrainingInputError(f"hyperparameter {name} must be >= 0 (0 = no limit)")
    # Imported here: design pulls in scikit-learn (seconds), and the Dagster code location imports
    # this module for its channel names and reader, in every run worker and the UI.
    from retail_training.design import FeatureSetError, parse_feature_set

    for feature_set in feature_sets(hyperparameters):
        try:
            parse_feature_set(feature_set)
        except FeatureSetError as error:
            raise TrainingInputError(f"hyperparameter feature_sets={hyperparameters['feature_sets']!r}: {error}") from error
    for name in GRIDS:
        grid(hyperparameters, name)  # raises on a bad list
    if any(weight >= 1 for weight in grid(hyperparameters, "blend_weight")):
        raise TrainingInputError(f"hyperparameter blend_weight={hyperparameters['blend_weight']!r}: every weight must be below 1 (1 is complement_nb alone)")
    for blend, members in BLEND_MEMBERS.items():
        if blend in candidates:
            earlier = candidates[: candidates.index(blend)]
            missing = [m for m in members if m not in earlier]
            if missing:
                raise TrainingInputError(
                    f"candidates={hyperparameters['candidates']!r}: {blend} blends {' and '.join(members)}, "
                    f"so list {' and '.join(missing)} before it"
                )


def grid(hyperparameters: Mapping, name: str) -> list:
    """The values of a grid hyperparameter, e.g. logistic_C="1,3,0.3" -> [1.0, 3.0, 0.3]."""
    kind = GRIDS[name]
    text = str(hyperparameters[name])
    try:
        values = [kind(float(part)) if kind is int else kind(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise TrainingInputError(f"hyperparameter {name}={text!r} must be a comma list of numbers, e.g. {HYPERPARAMETER_DEFAULTS[name]!r}") from error
    if not values or any(v <= 0 for v in values):
        raise TrainingInputError(f"hyperparameter {name}={text!r} must list at least one number, every one > 0")
    return values


def feature_sets(hyperparameters: Mapping) -> list[str]:
    return [f.strip() for f in str(hyperparameters["feature_sets"]).split(",") if f.strip()] or ["products"]


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
        expected = [*TRAINABLE_CODES, UNCLASSIFIED_CODE]
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
