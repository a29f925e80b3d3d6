"""Read landed weekly files, accounting for every physical line.

Each line after the header is kept (typed), quarantined with every reason it broke (undecodable
bytes, an unbalanced quote, the wrong number of fields, a bad type or domain, a week that is
not the file's), or the whole file is rejected (`UnreadableFileError`: not text, no header,
columns missing), which the caller files under `landing/rejected/`.

Splitting a file into fields is done file by file (`fields.py`); the contract's rules run once
over a whole group of files (`check_files`): one query over a commit group (~400k rows) instead
of a dozen small ones. `parse_weekly_file` is the one-file case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from retail_assets.ingest import contract
from retail_assets.ingest.fields import FileFields, UnreadableFileError, count_lines, file_fields
from retail_assets.ingest.rules import FILE_WEEK, split_by_rules

__all__ = ["IngestResult", "UnreadableFileError", "check_files", "count_lines", "parse_weekly_file", "read_weekly_file"]

CARRIED = ["source_file", "source_line"]
KEPT_COLUMNS = [*contract.LAKE_COLUMNS, *CARRIED]
QUARANTINE_COLUMNS = [*contract.LAKE_COLUMNS, *CARRIED, "line", "reason"]
_FILE = "__file"  # which of the group's files a row came from


@dataclass
class IngestResult:
    week: int
    kept: pl.DataFrame
    quarantined: pl.DataFrame
    data_lines: int  # non-blank lines after the header, counted from the bytes
    blank_lines: int
    column_spelling: str  # "dunnhumby" or "seg"
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.data_lines

    @property
    def reason_counts(self) -> dict[str, int]:
        if self.quarantined.is_empty():
            return {}
        # Summarise by rule ("BASKET_TYPE not in contract"), not by each offending value.
        reasons = self.quarantined.select(pl.col("reason").str.split("; ").explode().str.split(":").list.first())
        counts = reasons.group_by("reason").len().sort("len", "reason", descending=[True, False])
        return dict(zip(counts["reason"].to_list(), counts["len"].to_list(), strict=True))


def read_weekly_file(path: Path) -> IngestResult:
    return parse_weekly_file(path.name, path.read_bytes())


def parse_weekly_file(name: str, data: bytes) -> IngestResult:
    """Parse a weekly file's bytes (from a disk or S3) named `name`."""
    return check_files([file_fields(name, data)])[0]


def check_files(files: list[FileFields]) -> list[IngestResult]:
    """Each file's kept and quarantined rows, as `parse_weekly_file` gives them file by file, with
    the contract's rules run once over all the files' rows (the week each row must have is its
    file's, a column). Kept rows stay in their file's order; quarantined ones are sorted by line."""
    group = pl.concat(
        [
            f.strings.lazy().with_columns(pl.lit(f.week, dtype=pl.Int32()).alias(FILE_WEEK), pl.lit(i, dtype=pl.UInt32()).alias(_FILE))
            for i, f in enumerate(files)
        ],
        how="vertical",
    )
    kept, invalid = split_by_rules(group, [*CARRIED, "line", _FILE])
    kept, invalid = pl.collect_all([kept.drop("line"), invalid])
    # Filtering keeps the order, so each file's kept rows are one contiguous slice: no copy.
    # (drop_in_place: `drop` or `select` cost ~30 ms on a group of ~80 chunks, as a rechunk would.)
    starts = np.concatenate([[0], np.cumsum(np.bincount(kept.drop_in_place(_FILE).to_numpy(), minlength=len(files)))])
    invalid_by_file = invalid.partition_by(_FILE, as_dict=True, include_key=False)
    none = invalid.clear().drop(_FILE)
    return [
        _result(f, kept.slice(starts[i], starts[i + 1] - starts[i]), invalid_by_file.get((i,), none))
        for i, f in enumerate(files)
    ]


def _result(file: FileFields, kept: pl.DataFrame, invalid: pl.DataFrame) -> IngestResult:
    if invalid.height and invalid["line"].null_count():
        physical = file.data.split(b"\n")  # the fast path kept no text: take each bad row's line from the bytes
        texts = [physical[n - 1].rstrip(b"\r").decode("utf-8", errors="backslashreplace") for n in invalid["source_line"]]
        invalid = invalid.with_columns(line=pl.Series(texts, dtype=pl.String()))
    if file.broken.height:
        broken = file.broken.with_columns(source_file=pl.lit(file.name))
        invalid = pl.concat([invalid, broken], how="diagonal_relaxed")
    return IngestResult(
        week=file.week,
        kept=kept,
        quarantined=invalid.select(QUARANTINE_COLUMNS).sort("source_line"),
        data_lines=file.count.data_lines,
        blank_lines=file.count.blank_lines,
        column_spelling=file.column_spelling,
        ignored_columns=file.ignored_columns,
    )
