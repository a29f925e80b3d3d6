"""Train and test channels cut from the sample generator's own data, without the Dagster graph.

The generator's weekly files go through the same plain functions the pipeline's assets call
(read and check each file, silver, gold, the basket feature table), and the channels are cut by
time as the training asset cuts them: the latest weeks are the test channel. The training tests
use it to check the search on each profile's regime (default: a ceiling of about 0.93;
realistic: labels close to a function of the products).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from retail_assets.ingest.reader import read_weekly_file
from retail_assets.lake.transforms import gold_from_silver, silver_from_raw
from retail_assets.sample_data import generate_sample_data
from retail_model.features.table import build_feature_table


def profile_channels(root: Path, profile: str, weeks: int, baskets_per_week: int, test_weeks: int, seed: int = 7) -> tuple[Path, Path]:
    """(train, test) channel directories of `profile`'s sample data, `test_weeks` latest weeks held out."""
    report = generate_sample_data(root / "sample", weeks=weeks, baskets_per_week=baskets_per_week, seed=seed, profile=profile)
    raw = pl.concat([read_weekly_file(path).kept for path in report.files], how="diagonal_relaxed")
    features = build_feature_table(gold_from_silver(silver_from_raw(raw)))
    held_out = sorted(features["shop_week"].unique().to_list())[-test_weeks:]
    for name, rows in (("train", features.filter(~pl.col("shop_week").is_in(held_out))), ("test", features.filter(pl.col("shop_week").is_in(held_out)))):
        (root / name).mkdir(parents=True)
        rows.write_parquet(root / name / "part-0.parquet")
    return root / "train", root / "test"
