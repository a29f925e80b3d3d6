"""Read one landed weekly file into typed rows, quarantining every row that breaks the contract.

Rows in = rows kept + rows quarantined, always. A file that cannot be read at all (not text,
no header, columns missing) raises `UnreadableFileError`, and the caller files it under
`landing/rejected/` with the reason. Plain logic: no Dagster import.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from retail_assets.ingest import contract

KEPT_COLUMNS = [name.lower() for name in contract.COLUMNS] + ["source_file", "source_row"]
QUARANTINE_COLUMNS = [name.lower() for name in contract.COLUMNS] + ["source_file", "source_row", "reason"]


class UnreadableFileError(Exception):
    """The whole file cannot be read as a weekly extract; nothing in it was ingested."""


@dataclass
class IngestResult:
    week: int
    kept: pl.DataFrame
    quarantined: pl.DataFrame
    rows_read: int
    column_spelling: str  # "dunnhumby" or "seg"
    encoding: str
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def reason_counts(self) -> dict[str, int]:
        if self.quarantined.is_empty():
            return {}
        # Summarise by rule ("BASKET_TYPE not in contract"), not by each offending value.
        reasons = self.quarantined.select(
            pl.col("reason").str.split("; ").explode().str.split(":").list.first().alias("reason")
        )
        counts = reasons.group_by("reason").len().sort("len", descending=True)
        return dict(zip(counts["reason"].to_list(), counts["len"].to_list(), strict=True))


def week_of_file(path: Path) -> int:
    match = contract.FILE_NAME_PATTERN.match(path.name)
    if not match:
        raise UnreadableFileError(f"{path.name}: weekly files must be named transactions_YYYYWW.csv")
    return int(match["week"])


def read_weekly_file(path: Path) -> IngestResult:
    return parse_weekly_file(path.name, path.read_bytes())


def parse_weekly_file(name: str, data: bytes) -> IngestResult:
    """Parse a weekly file's bytes (from a disk or S3) named `name`."""
    path = Path(name)  # only its name is used: for the week and in messages
    week = week_of_file(path)
    text, encoding = _decode(path, data)
    records = csv.reader(io.StringIO(text, newline=""))
    header = next(records, None)
    if not header or all(not cell.strip() for cell in header):
        raise UnreadableFileError(f"{path.name}: the file is empty or has no header row")
    canonical, spelling, ignored = _canonical_header(path.name, header)

    width = len(header)
    good_rows: list[list[str]] = []
    good_line_numbers: list[int] = []
    ragged: list[tuple[int, list[str]]] = []
    for line_number, record in enumerate(records, start=1):
        if not record:  # a blank line is not a row
            continue
        if len(record) == width:
            good_rows.append(record)
            good_line_numbers.append(line_number)
        else:
            ragged.append((line_number, record))

    positions = {name: canonical.index(name) for name in contract.COLUMNS}
    strings = pl.DataFrame(
        {name.lower(): [row[positions[name]] for row in good_rows] for name in contract.COLUMNS},
        schema={name.lower(): pl.String() for name in contract.COLUMNS},
    ).with_columns(
        pl.all().str.strip_chars().replace("", None),
        source_file=pl.lit(path.name),
        source_row=pl.Series(good_line_numbers, dtype=pl.Int64()),
    )
    if spelling == "seg":
        strings = strings.with_columns(
            pl.col(column.lower()).replace(codes) for column, codes in contract.ALTERNATIVE_CODES.items()
        )
    typed = _typed(strings)
    reasons = _row_reasons(strings, typed, week)
    checked = typed.with_columns(reason=reasons)

    kept = checked.filter(pl.col("reason").is_null()).select(KEPT_COLUMNS)
    bad_typed = checked.filter(pl.col("reason").is_not_null()).select("source_row", "reason")
    quarantined = pl.concat(
        [
            strings.join(bad_typed, on="source_row", how="inner").select(QUARANTINE_COLUMNS),
            _ragged_frame(ragged, path.name, width),
        ],
        how="vertical",
    ).sort("source_row")
    return IngestResult(
        week=week,
        kept=kept,
        quarantined=quarantined,
        rows_read=len(good_rows) + len(ragged),
        column_spelling=spelling,
        encoding=encoding,
        ignored_columns=ignored,
    )


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    if b"\x00" in raw[:4096]:
        raise UnreadableFileError(f"{path.name}: binary content (NUL bytes); expected a CSV text file")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        # Spreadsheet exports of these extracts are often Windows-1252; every contract value is ASCII.
        return raw.decode("cp1252", errors="replace"), "cp1252"


def _canonical_header(file_name: str, header: list[str]) -> tuple[list[str], str, list[str]]:
    canonical: list[str] = []
    spelling = "dunnhumby"
    for cell in header:
        name = cell.strip().strip('"')
        alternative = contract.ALTERNATIVE_COLUMN_NAMES.get(name.lower())
        if alternative:
            spelling = "seg"
            canonical.append(alternative)
        else:
            canonical.append(name.upper())
    missing = [name for name in contract.COLUMNS if name not in canonical]
    if missing:
        raise UnreadableFileError(
            f"{file_name}: missing column(s) {', '.join(missing)}; a weekly extract needs the 22 "
            f"dunnhumby columns (seg_1/seg_2 are accepted for the customer segments)"
        )
    duplicated = sorted({name for name in canonical if canonical.count(name) > 1 and name in contract.COLUMNS})
    if duplicated:
        raise UnreadableFileError(f"{file_name}: column(s) {', '.join(duplicated)} appear more than once")
    ignored = [name for name in canonical if name not in contract.COLUMNS]
    return canonical, spelling, ignored


def _typed(strings: pl.DataFrame) -> pl.DataFrame:
    return strings.with_columns(
        pl.col("shop_week").cast(pl.Int32, strict=False),
        pl.col("shop_date").str.to_date("%Y%m%d", strict=False),
        pl.col("shop_weekday").cast(pl.Int8, strict=False),
        pl.col("shop_hour").cast(pl.Int8, strict=False),
        pl.col("quantity").cast(pl.Int32, strict=False),
        pl.col("spend").cast(pl.Float64, strict=False),
    )


def _row_reasons(strings: pl.DataFrame, typed: pl.DataFrame, week: int) -> pl.Series:
    """One expression per rule; a row's reason lists every rule it breaks, joined by '; '."""
    s, t = strings, typed
    rules: list[pl.Series] = []

    def rule(failed: pl.Series, reason: str | pl.Series) -> None:
        text = reason if isinstance(reason, pl.Series) else pl.Series([reason] * len(failed))
        rules.append(pl.select(pl.when(failed.fill_null(False)).then(text).otherwise(None)).to_series())

    for name in contract.REQUIRED_COLUMNS:
        rule(s[name.lower()].is_null(), f"missing {name}")
    for name in ("shop_week", "shop_weekday", "shop_hour", "quantity"):
        rule(s[name].is_not_null() & t[name].is_null(), f"{name.upper()} is not a whole number")
    rule(s["spend"].is_not_null() & t["spend"].is_null(), "SPEND is not a number")
    rule(s["shop_date"].is_not_null() & t["shop_date"].is_null(), "SHOP_DATE is not a YYYYMMDD date")
    rule(t["shop_week"].is_not_null() & (t["shop_week"] != week), f"SHOP_WEEK differs from the file's week {week}")
    rule(~t["shop_hour"].is_between(0, 23), "SHOP_HOUR outside 0..23")
    rule(~t["shop_weekday"].is_between(1, 7), "SHOP_WEEKDAY outside 1..7")
    rule(t["quantity"] < 1, "QUANTITY below 1")
    rule(t["spend"] < 0, "SPEND is negative")
    rule(t["spend"].is_nan() | t["spend"].is_infinite(), "SPEND is not finite")
    for name, domain in contract.DOMAINS.items():
        column = s[name.lower()]
        rule(column.is_not_null() & ~column.is_in(list(domain)), pl.select(pl.format(f"{name} not in contract: {{}}", column)).to_series())
    region = s["store_region"]
    rule(region.is_not_null() & ~region.str.contains(contract.STORE_REGION_PATTERN.pattern), "STORE_REGION is not a region code")
    return pl.select(pl.concat_str(rules, separator="; ", ignore_nulls=True).replace("", None)).to_series()


def _ragged_frame(ragged: list[tuple[int, list[str]]], file_name: str, width: int) -> pl.DataFrame:
    """Rows whose field count is wrong cannot be mapped to columns: keep their text whole."""
    schema = {name: pl.String() for name in QUARANTINE_COLUMNS} | {"source_row": pl.Int64()}
    rows = [
        {
            "shop_week": None,
            "source_file": file_name,
            "source_row": line_number,
            "reason": f"has {len(record)} fields, expected {width}: {','.join(record)[:500]}",
        }
        for line_number, record in ragged
    ]
    return pl.DataFrame(rows, schema=schema).select(QUARANTINE_COLUMNS)
