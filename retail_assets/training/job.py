"""The SageMaker training-job contract: what a job is given and how it is read.

Paths come from SM_MODEL_DIR / SM_CHANNEL_TRAIN / SM_CHANNEL_TEST / SM_OUTPUT_DATA_DIR,
hyperparameters from SM_HPS, and `--name value` arguments override both. Everything here checks
its input and raises TrainingInputError with a message saying what to fix. No Dagster import:
this runs inside the training container.
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
# The names `candidates` may list; model_candidates.build_pipeline builds each one.
CANDIDATES = ("logistic_regression", "xgboost")
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
    parser = argparse.ArgumentParser(prog="python -m retail_assets.training.entrypoint", description=_DESCRIPTION)
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
