"""The time split and the training channels: latest weeks are the test set the model never sees."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from retail_assets.lake import replace_partition


class NotEnoughWeeksError(Exception):
    """A time split needs at least two distinct weeks of baskets."""


@dataclass(frozen=True)
class TimeSplit:
    train_weeks: list[int]
    test_weeks: list[int]

    def describe(self) -> str:
        return (
            f"time split: train on weeks {self.train_weeks[0]}..{self.train_weeks[-1]} "
            f"({len(self.train_weeks)}), test on weeks {self.test_weeks[0]}..{self.test_weeks[-1]} ({len(self.test_weeks)})"
        )


def time_split(weeks: list[int], test_fraction: float = 0.2) -> TimeSplit:
    ordered = sorted(set(weeks))
    if len(ordered) < 2:
        raise NotEnoughWeeksError(
            f"the feature table holds {len(ordered)} week(s); land at least two weekly files so the "
            "latest week can be held out as the test set"
        )
    n_test = min(max(1, math.ceil(len(ordered) * test_fraction)), len(ordered) - 1)
    return TimeSplit(train_weeks=ordered[:-n_test], test_weeks=ordered[-n_test:])


def write_channels(features: pl.DataFrame, split: TimeSplit, job_dir: Path) -> dict[str, int]:
    """Lay out SageMaker's input channels: <job>/input/data/{train,test}/part-0.parquet."""
    channels = {
        "train": features.filter(pl.col("shop_week").is_in(split.train_weeks)),
        "test": features.filter(pl.col("shop_week").is_in(split.test_weeks)),
    }
    for name, frame in channels.items():
        replace_partition(frame, job_dir / "input" / "data" / name)
    return {name: frame.height for name, frame in channels.items()}
