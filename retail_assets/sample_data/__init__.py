"""A deterministic sample of dunnhumby-style weekly transaction extracts, in two profiles.

``generate_sample_data(out_dir)`` writes ``transactions_YYYYWW.csv`` files in the exact layout of
the data contract (``retail_assets.ingest.contract.COLUMNS``), plus ``sample_data_report.json``.
Plain Python + numpy (+ polars to write the CSV); no Dagster. ``docs/sample_data.md`` has the long
version, with the figures measured for the default arguments.

- ``profile="default"`` (default.py): the label is noisy and the products carry most of it; its
  Bayes ceiling (about 0.93 macro-F1) leaves room between a good and a perfect model.
- ``profile="realistic"`` (realistic.py): the label is nearly a function of the products in the
  basket, as on the real extract; a product-presence linear model reaches about 0.99.

Both share the world (world.py: products, stores, customers, drawn once from the seed) and the
steps that do not involve the label. Each week comes from its own random stream keyed by
(seed, profile, week), so a week's file depends only on (seed, profile, week, baskets_per_week).
The report's ceiling is each profile's own Bayes-optimal prediction scored on every non-XX basket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from retail_assets.sample_data import default, realistic
from retail_assets.sample_data.world import LABELS, MAX_BASKETS_PER_WEEK, XX, World, week_monday
from retail_model.labels import TRAINABLE_CODES

__all__ = ["PROFILES", "REPORT_FILE_NAME", "SampleDataReport", "generate_sample_data"]

REPORT_FILE_NAME = "sample_data_report.json"
COLUMN_SPELLINGS = ("dunnhumby", "seg")
PROFILES = {"default": default.generate_week, "realistic": realistic.generate_week}


@dataclass(frozen=True)
class SampleDataReport:
    """What ``generate_sample_data`` wrote, and the best score any model could reach on it."""

    files: list[Path]
    weeks: list[int]
    rows: int
    baskets: int
    label_shares: dict[str, float]  # basket shares by BASKET_PRICE_SENSITIVITY code
    # The generator's own Bayes-optimal classifier, scored on every LA/MM/UM basket (XX excluded).
    ceiling_accuracy: float
    ceiling_macro_f1: float
    profile: str = "default"

    def to_dict(self) -> dict:
        return {
            "profile": self.profile,
            "files": [str(path) for path in self.files],
            "weeks": list(self.weeks),
            "rows": self.rows,
            "baskets": self.baskets,
            "label_shares": dict(self.label_shares),
            "ceiling_accuracy": self.ceiling_accuracy,
            "ceiling_macro_f1": self.ceiling_macro_f1,
        }


def generate_sample_data(
    out_dir: Path,
    weeks: int = 12,
    baskets_per_week: int = 4000,
    seed: int = 7,
    first_week: int = 200607,
    column_spelling: str = "dunnhumby",
    profile: str = "default",
) -> SampleDataReport:
    """Write ``weeks`` consecutive weekly extracts (from ``first_week``, YYYYWW) into ``out_dir``.

    Shop weeks are ISO weeks (Monday to Sunday; 200652 is followed by 200701). With
    ``column_spelling="seg"`` the two customer segment columns are named ``seg_1``/``seg_2`` and
    their values recoded as some public re-uploads do (lifestage XX has no recoding and stays XX).
    ``profile`` is one of ``PROFILES``. Same arguments, byte-identical files.
    """
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    if not 1 <= baskets_per_week <= MAX_BASKETS_PER_WEEK:
        raise ValueError(f"baskets_per_week must be in 1..{MAX_BASKETS_PER_WEEK}, got {baskets_per_week}")
    if column_spelling not in COLUMN_SPELLINGS:
        raise ValueError(f"column_spelling must be one of {COLUMN_SPELLINGS}, got {column_spelling!r}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {tuple(PROFILES)}, got {profile!r}")
    generate_week = PROFILES[profile]
    monday = week_monday(first_week)

    world = World.build(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    files: list[Path] = []
    week_codes: list[int] = []
    rows = 0
    labels: list[np.ndarray] = []
    predictions: list[np.ndarray] = []
    for _ in range(weeks):
        iso = monday.isocalendar()
        week_code = iso.year * 100 + iso.week
        week = generate_week(world, seed, monday, baskets_per_week)
        path = out_dir / f"transactions_{week_code}.csv"
        week.frame(world, week_code, column_spelling).write_csv(path, float_precision=2, null_value="")
        files.append(path)
        week_codes.append(week_code)
        rows += week.n_lines
        labels.append(week.label)
        predictions.append(week.ceiling_prediction)
        monday += timedelta(days=7)

    label = np.concatenate(labels)
    prediction = np.concatenate(predictions)
    counts = np.bincount(label, minlength=len(LABELS))
    accuracy, macro_f1 = _ceiling_scores(label, prediction)
    report = SampleDataReport(
        files=files,
        weeks=week_codes,
        rows=rows,
        baskets=int(label.size),
        label_shares={code: float(counts[i] / label.size) for i, code in enumerate(LABELS)},
        ceiling_accuracy=accuracy,
        ceiling_macro_f1=macro_f1,
        profile=profile,
    )
    (out_dir / REPORT_FILE_NAME).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _ceiling_scores(label: np.ndarray, prediction: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    keep = label != XX
    if not keep.any():
        return float("nan"), float("nan")
    truth = np.asarray(LABELS)[label[keep]]
    predicted = np.asarray(LABELS)[prediction[keep]]
    accuracy = float(np.mean(truth == predicted))
    macro_f1 = float(f1_score(truth, predicted, labels=list(TRAINABLE_CODES), average="macro", zero_division=0))
    return accuracy, macro_f1
