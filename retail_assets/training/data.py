"""The time split and the training channels: latest weeks are the test set the model never sees."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from retail_model.lake import Lake


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


def job_prefix(version: str) -> str:
    return f"training/jobs/{version}"


def channel_prefix(version: str, channel: str) -> str:
    return f"{job_prefix(version)}/input/data/{channel}"


def write_channels(lake: Lake, features: pl.DataFrame, split: TimeSplit, version: str, lineage: Mapping[str, int]) -> dict[str, int]:
    """Lay out SageMaker's input channels in the lake: <job>/input/data/{train,test}/part-0.parquet.

    The train channel also carries the table versions the rows came from, which the training
    entrypoint copies into metrics.json, so a model names the exact data it learnt from.
    """
    channels = {
        "train": features.filter(pl.col("shop_week").is_in(split.train_weeks)),
        "test": features.filter(pl.col("shop_week").is_in(split.test_weeks)),
    }
    for name, frame in channels.items():
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        lake.write_bytes(f"{channel_prefix(version, name)}/part-0.parquet", buffer.getvalue())
    from retail_training.job import LINEAGE_FILE  # here, not at import: it brings scikit-learn into the code location

    lake.write_json(
        f"{channel_prefix(version, 'train')}/{LINEAGE_FILE}",
        {"tables": dict(lineage), "train_weeks": split.train_weeks, "test_weeks": split.test_weeks},
    )
    return {name: frame.height for name, frame in channels.items()}
