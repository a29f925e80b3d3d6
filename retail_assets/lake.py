"""The lake's layout and its Parquet I/O. Plain logic: no Dagster import.

Every table is Hive-style (`key=value/` folders of `part-*.parquet`), readable by duckdb or
`polars.scan_parquet`. Writers replace a whole partition folder at once, so re-materializing a
partition never appends twice and a reader never sees half a partition.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class LakePaths:
    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def rejected(self) -> Path:
        return self.landing / "rejected"

    def raw(self, week: int | str | None = None) -> Path:
        return _partition(self.root / "raw", shop_week=week)

    def quarantine(self, week: int | str | None = None) -> Path:
        return _partition(self.root / "quarantine", shop_week=week)

    def silver(self, store_region: str | None = None, basket_type: str | None = None) -> Path:
        return _partition(self.root / "silver", store_region=store_region, basket_type=basket_type)

    def gold(self, store_region: str | None = None, basket_type: str | None = None) -> Path:
        return _partition(self.root / "gold", store_region=store_region, basket_type=basket_type)

    @property
    def features(self) -> Path:
        return self.root / "features" / "basket_features"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model(self, version: str) -> Path:
        return self.models / version

    def training_job(self, version: str) -> Path:
        return self.root / "training" / "jobs" / version


def _partition(table: Path, **keys: int | str | None) -> Path:
    path = table
    for name, value in keys.items():
        if value is None:
            break
        path = path / f"{name}={value}"
    return path


def replace_partition(frame: pl.DataFrame, directory: Path, extra_files: dict[str, dict] | None = None) -> Path:
    """Write `frame` as the whole content of `directory`, swapping the folder in one rename."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    frame.write_parquet(staging / "part-0.parquet")
    for name, payload in (extra_files or {}).items():
        (staging / name).write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    retired = None
    if directory.exists():
        retired = directory.parent / f".{directory.name}.{uuid.uuid4().hex}.old"
        os.replace(directory, retired)
    os.replace(staging, directory)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
    return directory / "part-0.parquet"


def parquet_files(table: Path) -> list[Path]:
    """Every data file of a table (or partition), skipping staging folders of writes in flight."""
    if not table.exists():
        return []
    # Only folders *below* the table count: the lake root itself may be a dot-folder (./.retail).
    return sorted(
        p for p in table.rglob("part-*.parquet") if not any(part.startswith(".") for part in p.relative_to(table).parts)
    )


def scan_table(table: Path) -> pl.LazyFrame | None:
    """A lazy scan over a table's files, or None when nothing has been written yet."""
    files = parquet_files(table)
    if not files:
        return None
    # The partition columns are stored in the files too, so folder names are not parsed.
    return pl.scan_parquet(files, hive_partitioning=False)


def count_rows(table: Path) -> int:
    scan = scan_table(table)
    return 0 if scan is None else scan.select(pl.len()).collect().item()


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None
