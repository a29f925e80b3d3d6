"""Training: the candidate table, the winner's test score against the generator's ceiling, and
the training time, next to the seed's training (two candidates, logistic regression at C=100 with
300 lbfgs iterations, 200 XGBoost rounds) measured on the same channels in the same run.

    .venv/bin/python bench/train.py                                  # the default sample (12 x 4,000)
    .venv/bin/python bench/train.py --weeks 104 --baskets-per-week 4500 \
        --hyperparameters '{"search_size": 1, "candidates": "baseline,logistic_regression,complement_nb,linear_svm"}' \
        --seed-candidates logistic_regression                         # a real-size extract (~370 k train baskets)

The lake (sample-data, then the graph up to basket_features) is built once and cached in
~/.cache/retail-mlops/bench-train-<weeks>x<baskets>/. The channels are cut as the training asset
cuts them (the latest 20% of weeks are the test set). Each training runs the real entrypoint
in-process. Besides what metrics.json holds (validation scores), the bench refits every
candidate's best setting on all train weeks and scores it on the test weeks, so the table shows
how each would have done: figures for people, never used to choose.
The machine may be shared and noisy: compare the ratio, which comes from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED_TRAINING = {"candidates": "logistic_regression,xgboost", "logistic_C": "100", "max_iter": 300, "search_size": 1,
                 "xgb_max_depth": "6", "xgb_n_estimators": 200, "xgb_early_stopping_rounds": 200}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--baskets-per-week", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-seed-training", action="store_true", help="only the current training")
    parser.add_argument("--seed-candidates", default="logistic_regression,xgboost", help="the seed's candidates to run (XGBoost is slow at real size)")
    parser.add_argument("--hyperparameters", default="{}", help="JSON for the current training, e.g. '{\"search_size\": 1}'")
    args = parser.parse_args()

    lake, ceiling = build_lake(args.weeks, args.baskets_per_week, args.seed)
    with tempfile.TemporaryDirectory(prefix="retail-bench-train-") as scratch:
        train_dir, test_dir = cut_channels(lake, Path(scratch))
        current = train(train_dir, test_dir, Path(scratch) / "current", json.loads(args.hyperparameters))
        report(f"current training {args.hyperparameters}", current, train_dir, test_dir, ceiling)
        if not args.skip_seed_training:
            seed = train(train_dir, test_dir, Path(scratch) / "seed", SEED_TRAINING | {"candidates": args.seed_candidates})
            report("the seed's training", seed, train_dir, test_dir, ceiling)
            print(f"\ncurrent vs seed: test macro-F1 {current['macro_f1']:.4f} vs {seed['macro_f1']:.4f}; "
                  f"training time {current['training_seconds']:.0f} s vs {seed['training_seconds']:.0f} s "
                  f"(x{current['training_seconds'] / seed['training_seconds']:.2f})")


def build_lake(weeks: int, baskets_per_week: int, seed: int) -> tuple[Path, float]:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "retail-mlops" / f"bench-train-{weeks}x{baskets_per_week}-{seed}"
    lake, sample = cache / "lake", cache / "sample"
    if not (lake / "features" / "_delta_log").is_dir():
        print(f"building {lake}: {weeks} weeks x {baskets_per_week} baskets up to basket_features (once)")
        os.environ.update(RETAIL_LAKE=str(lake), DAGSTER_HOME=str(cache / "dagster_home"))
        (cache / "dagster_home").mkdir(parents=True, exist_ok=True)
        (cache / "dagster_home" / "dagster.yaml").write_text("")
        import dagster as dg
        from rich.console import Console
        from rich.progress import Progress

        from retail_assets.pipeline import run_pipeline
        from retail_assets.sample_data import generate_sample_data

        generate_sample_data(sample, weeks=weeks, baskets_per_week=baskets_per_week, seed=seed)
        run_pipeline(sample, dg.DagsterInstance.get(), Progress(console=Console(quiet=True)), through_model=False)
    from retail_assets.sample_data import REPORT_FILE_NAME

    report_file = sample / REPORT_FILE_NAME
    ceiling = json.loads(report_file.read_text())["ceiling_macro_f1"] if report_file.is_file() else float("nan")
    return lake, ceiling


def cut_channels(lake: Path, scratch: Path) -> tuple[Path, Path]:
    from retail_assets.training.data import time_split
    from retail_model.lake import LocalLake

    features = LocalLake(lake).scan("features").collect()
    split = time_split(features["shop_week"].unique().to_list())
    for name, weeks in (("train", split.train_weeks), ("test", split.test_weeks)):
        (scratch / name).mkdir(parents=True)
        features.filter(pl.col("shop_week").is_in(weeks)).write_parquet(scratch / name / "part-0.parquet")
    print(f"channels: {split.describe()}")
    return scratch / "train", scratch / "test"


def train(train_dir: Path, test_dir: Path, model_dir: Path, hyperparameters: dict) -> dict:
    from retail_training.entrypoint import train as run_job
    from retail_training.job import parse_job

    environ = {"SM_MODEL_DIR": str(model_dir), "SM_CHANNEL_TRAIN": str(train_dir), "SM_CHANNEL_TEST": str(test_dir),
               "SM_HPS": json.dumps(hyperparameters)}
    started = time.perf_counter()
    metrics = run_job(parse_job([], environ))
    metrics["training_seconds"] = time.perf_counter() - started
    return metrics


def report(title: str, metrics: dict, train_dir: Path, test_dir: Path, ceiling: float) -> None:
    """The candidate table: validation (what chose), then each best setting refit and tested."""
    from retail_training.candidates import Design, class_positions, fit_classifier, predict_codes, refit_params
    from retail_training.job import read_channel
    from retail_training.metrics import evaluate

    train_channel, test_channel = read_channel("train", train_dir), read_channel("test", test_dir)
    rows, codes = train_channel.features(), train_channel.codes()
    design = Design.fit(rows)
    classes, positions = class_positions(codes)
    test_raw, test_scaled = design.transform(test_channel.features())
    print(f"\n== {title}: {metrics['n_train']:,} train / {metrics['n_test']:,} test baskets, {metrics['n_features']:,} features")
    print(f"{'candidate':20} {'setting':18} {'val F1':>7} {'test F1':>8} {'test acc':>8} {'fit s':>7}  note")
    for candidate in metrics["candidates"]:
        if candidate.get("validation_macro_f1") is None:
            print(f"{candidate['name']:20} failed: {candidate.get('error')}")
            continue
        params = refit_params(candidate["name"], candidate["params"], candidate)
        classifier, info = fit_classifier(candidate["name"], params, metrics["hyperparameters"], design.matrix_for(candidate["name"], design.raw, design.scaled), positions)
        scores = evaluate(test_channel.codes(), predict_codes(classifier, classes, design.matrix_for(candidate["name"], test_raw, test_scaled)))
        note = "winner" if candidate["won"] else ""
        if "converged" in info:
            note += f" {info['iterations']} lbfgs iterations ({'converged' if info['converged'] else 'NOT converged'})"
        if "boosting_rounds" in candidate:
            note += f" {candidate['boosting_rounds']} rounds"
        setting = ",".join(f"{k}={v}" for k, v in candidate["params"].items()) or "-"
        print(f"{candidate['name']:20} {setting:18} {candidate['validation_macro_f1']:7.4f} {scores['macro_f1']:8.4f} "
              f"{scores['accuracy']:8.4f} {info['fit_seconds']:7.1f}  {note.strip()}")
    anonymous = metrics["by_customer"]["anonymous"]
    print(f"winner {metrics['winner']} {metrics['winner_params']}: test macro-F1 {metrics['macro_f1']:.4f} "
          f"(anonymous baskets {anonymous['macro_f1']:.4f}), accuracy {metrics['accuracy']:.4f}; "
          f"generator's ceiling {ceiling:.4f}; {metrics['search']['n_trials']} search fits; training {metrics['training_seconds']:.0f} s")


if __name__ == "__main__":
    main()
