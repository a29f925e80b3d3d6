"""SageMaker-contract training entrypoint: basket feature parquet -> model.joblib + metrics.json.

Runs unchanged as a local subprocess or as a SageMaker training job:

    SM_MODEL_DIR=out SM_CHANNEL_TRAIN=features/train SM_CHANNEL_TEST=features/test \\
    SM_HPS='{"search_size": 1}' python -m retail_training.entrypoint [--seed 7]

Candidates and their settings are compared on the train channel's latest weeks (validation,
search.py), the winner is refit on the whole train channel and scored once on the test channel,
which no choice ever looks at. This module runs the job and writes what it produced; the job
contract (environment, arguments, hyperparameters, channels) is in job.py, the models in
candidates.py, the one metrics function in metrics.py, and starting as root in SageMaker's
container (then training as RETAIL_TRAINING_USER) in container.py. See docs/training.md for the
hyperparameters and every metrics.json field.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from retail_training.candidates import Design, class_positions, fit_classifier, predict_codes, refit_params
from retail_training.job import LINEAGE_FILE
from retail_training.container import TrainingEnvironmentError, become_training_user, require_writable
from retail_training.explain import top_features
from retail_training.job import Channel, TrainingInputError, TrainingJob, parse_job, read_channel
from retail_training.metrics import evaluate
from retail_training.search import TrialCheckpoint, fingerprint, run_search, validation_split
from retail_model.artifact import PriceSensitivityModel
from retail_model.features import FEATURE_VERSION
from retail_model.labels import CLASS_BY_CODE

log = logging.getLogger("retail_training.entrypoint")  # not __main__ under -m
# The feature basket_features sets for a shopper without a loyalty card (retail_model.features).
ANONYMOUS_FEATURE = "customer=anonymous"


def train(job: TrainingJob) -> dict:
    """Run the whole job; returns the metrics it wrote to `job.model_dir / metrics.json`."""
    started = time.perf_counter()
    hp = job.hyperparameters
    train_channel, test_channel = read_channel("train", job.train_dir), read_channel("test", job.test_dir)
    rows, codes, weeks = train_channel.features(), train_channel.codes(), train_channel.weeks()
    validation, split = validation_split(weeks, codes, hp["validation_fraction"], hp["seed"])
    checkpoint = TrialCheckpoint(job.checkpoint_dir, fingerprint(codes, weeks, validation, hp))
    search = run_search(hp, rows, codes, validation, checkpoint)
    winner = search.winner["name"]

    design = Design.fit(rows)
    classes, positions = class_positions(codes)
    params = refit_params(winner, search.winner["params"], search.winner)
    classifier, refit = fit_classifier(winner, params, hp, design.matrix_for(winner, design.raw, design.scaled), positions)
    pipeline = design.pipeline(winner, classifier)
    log.info("refit %s %s on %d train rows in %.1fs", winner, params, len(rows), refit["fit_seconds"])
    test_rows, test_codes = test_channel.features(), test_channel.codes()
    predicted = predict_codes(pipeline, classes, test_rows)
    anonymous = np.array([ANONYMOUS_FEATURE in row for row in test_rows], dtype=bool)
    test_weeks = sorted(set(test_channel.weeks().tolist()))
    overlap = set(train_channel.frame["basket_id"].to_list()) & set(test_channel.frame["basket_id"].to_list())
    metrics = {
        **evaluate(test_codes, predicted),
        # Shoppers without a loyalty card have no segment feature: the harder half, reported apart.
        "by_customer": {
            "anonymous": evaluate(test_codes[anonymous], predicted[anonymous]),
            "identified": evaluate(test_codes[~anonymous], predicted[~anonymous]),
        },
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
        "candidates": search.candidates,
        "search": {"search_size": hp["search_size"], "n_trials": len(search.trials), "trials": search.trials},
        "winner": winner,
        "winner_params": params,
        "refit": refit,
        "classes": classes,
        "n_features": len(design.vectorizer.feature_names_),
        "top_features": top_features(pipeline, classes),
        "feature_version": FEATURE_VERSION,
        "hyperparameters": dict(hp),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        # The Delta versions of the tables the channels were cut from (train and test alike).
        "data_versions": _lineage(job.train_dir).get("tables", {}),
    }
    metadata = {
        "classes": classes,
        "feature_version": FEATURE_VERSION,
        "candidate": winner,
        "candidate_params": params,
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


def _lineage(train_dir: Path) -> dict:
    path = train_dir / LINEAGE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


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
    """Exit 0 trained; 1 failed, with the reason in SM_OUTPUT_DIR/failure; 2 failed and the reason could not be written."""
    environ = os.environ if environ is None else environ
    try:
        become_training_user(environ)
        job = parse_job(argv, environ)
        output_dir = Path(environ["SM_OUTPUT_DIR"]) if environ.get("SM_OUTPUT_DIR") else None
        require_writable([job.model_dir, job.output_data_dir, job.checkpoint_dir, output_dir])
        metrics = train(job)
    except (TrainingInputError, TrainingEnvironmentError) as error:
        kind = "input" if isinstance(error, TrainingInputError) else "environment"
        return _report_failure(environ, f"training {kind} error: {error}")
    except Exception:
        return _report_failure(environ, f"training failed unexpectedly:\n{traceback.format_exc()}")
    print(json.dumps({"macro_f1": metrics["macro_f1"], "accuracy": metrics["accuracy"], "winner": metrics["winner"]}))
    return 0


def _report_failure(environ: Mapping[str, str], message: str) -> int:
    """stderr for people, SM_OUTPUT_DIR/failure for SageMaker's FailureReason; the exit code says which reached."""
    print(message, file=sys.stderr)
    if not environ.get("SM_OUTPUT_DIR"):
        return 1
    path = Path(environ["SM_OUTPUT_DIR"]) / "failure"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message)
    except OSError as error:
        # Not swallowed: SageMaker would show only "exit code 2", so the log says why its reason is missing.
        print(f"the failure reason could not be written to {path} ({error}); SageMaker's FailureReason will not carry it", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(main())
