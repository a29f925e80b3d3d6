"""Load landed weeks into the lake: raw rows, quarantined rows, and one ingest-log entry per file.

Each file is split into fields on its own, and files are committed in groups of about
`rows_per_commit` rows; the contract's rules run once per group (`check_files`). One
Delta commit replaces the group's weeks in raw, one in quarantine, one appends to the ingest log
(written last, so a load that dies half-way leaves its weeks pending and the next run redoes
them). Memory stays bounded by the group, not by the number of weeks. A file that cannot be read
is rejected (copied to landing/rejected/ with the reason, logged) and the other weeks go on; a
rejected re-delivery never replaces a week's earlier good data.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from retail_assets.ingest.fields import FileFields, UnreadableFileError, count_lines, file_fields
from retail_assets.ingest.landing import LandedFile, log_rows, reject_file
from retail_assets.ingest.reader import IngestResult, check_files
from retail_assets.ingest.tables import BY_WEEK, INGEST_LOG, QUARANTINE, RAW, weeks_property
from retail_model.lake import Lake

DEFAULT_ROWS_PER_COMMIT = 400_000


@dataclass(frozen=True)
class Rejection:
    week: str
    file: str
    reason: str
    where: str


@dataclass(frozen=True)
class WeekSummary:
    """What one week's file gave, without its rows (a report over 100+ weeks must stay small)."""

    data_lines: int
    blank_lines: int
    kept: int
    quarantined: int
    reason_counts: dict[str, int]
    column_spelling: str

    @classmethod
    def of(cls, result: IngestResult) -> WeekSummary:
        return cls(result.data_lines, result.blank_lines, result.kept.height, result.quarantined.height,
                   result.reason_counts, result.column_spelling)


@dataclass
class LoadReport:
    results: dict[str, WeekSummary] = field(default_factory=dict)  # week -> what was parsed and written
    rejected: list[Rejection] = field(default_factory=list)
    raw_version: int | None = None
    quarantine_version: int | None = None
    preview: pl.DataFrame | None = None  # the first kept rows, for people to look at

    @property
    def rows_kept(self) -> int:
        return sum(r.kept for r in self.results.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(r.quarantined for r in self.results.values())


def load_weeks(
    lake: Lake,
    files: list[LandedFile],
    run_id: str,
    rows_per_commit: int = DEFAULT_ROWS_PER_COMMIT,
    on_week: Callable[[str, IngestResult], None] | None = None,
) -> LoadReport:
    report = LoadReport()
    group: list[_Split] = []
    rejections: list[dict] = []
    for landed in files:
        data, fingerprint = lake.read_versioned(landed.key)
        try:
            fields = file_fields(landed.stored.name, data)
        except Exception as error:  # noqa: BLE001 - any failure to read a file rejects that file, not the run
            rejections.append(_reject(lake, landed, fingerprint, data, error, run_id, report))
            continue
        group.append(_Split(landed, fingerprint, data, fields))
        if sum(s.fields.strings.height + s.fields.broken.height for s in group) >= rows_per_commit:
            _check_and_commit(lake, group, run_id, report, rejections, on_week)
    _check_and_commit(lake, group, run_id, report, rejections, on_week)
    if rejections:
        lake.append(INGEST_LOG, log_rows(rejections), partition_by=BY_WEEK)
    return report


@dataclass
class _Split:
    """A landed file split into fields, waiting for its group's rules."""

    landed: LandedFile
    fingerprint: str
    data: bytes
    fields: FileFields


def _check_and_commit(
    lake: Lake, group: list[_Split], run_id: str, report: LoadReport, rejections: list[dict],
    on_week: Callable[[str, IngestResult], None] | None,
) -> None:
    """Run the rules over the group, then commit it; empties `group` first, so the files' fields
    and bytes are freed before the Delta writes."""
    if not group:
        return
    checked = _check(lake, group, run_id, report, rejections)
    group.clear()
    if on_week is not None:
        for landed, _, result in checked:
            on_week(landed.week, result)
    _commit(lake, checked, run_id, report)


def _check(
    lake: Lake, group: list[_Split], run_id: str, report: LoadReport, rejections: list[dict]
) -> list[tuple[LandedFile, str, IngestResult]]:
    """The group's files checked in one query; if that fails, file by file, so only the file that
    breaks it is rejected."""
    try:
        results = check_files([s.fields for s in group])
    except Exception:  # noqa: BLE001 - find the culprit below
        checked = []
        for s in group:
            try:
                checked.append((s.landed, s.fingerprint, check_files([s.fields])[0]))
            except Exception as error:  # noqa: BLE001 - any failure to read a file rejects that file, not the run
                rejections.append(_reject(lake, s.landed, s.fingerprint, s.data, error, run_id, report))
        return checked
    return [(s.landed, s.fingerprint, result) for s, result in zip(group, results, strict=True)]


def _reject(lake: Lake, landed: LandedFile, fingerprint: str, data: bytes, error: Exception, run_id: str, report: LoadReport) -> dict:
    """File the landed file under landing/rejected/ with the reason; returns its ingest-log entry."""
    reason = str(error) if isinstance(error, UnreadableFileError) else _unexpected(landed, error)
    report.rejected.append(Rejection(landed.week, landed.stored.name, reason, reject_file(lake, landed, fingerprint, reason)))
    return _log_entry(landed, fingerprint, run_id, status="rejected", reason=reason, data=data)


def _commit(lake: Lake, group: list[tuple[LandedFile, str, IngestResult]], run_id: str, report: LoadReport) -> None:
    if not group:
        return
    partitions = [{"shop_week": int(landed.week)} for landed, _, _ in group]
    kept = pl.concat([r.kept.with_columns(source_fingerprint=pl.lit(fp)) for _, fp, r in group])
    quarantined = pl.concat([quarantine_table(r.quarantined, r.week) for _, _, r in group])
    weeks = weeks_property(int(landed.week) for landed, _, _ in group)  # what the next hop rewrites
    report.raw_version = lake.replace_partitions(RAW, kept, BY_WEEK, partitions, properties=weeks)
    report.quarantine_version = lake.replace_partitions(QUARANTINE, quarantined, BY_WEEK, partitions, properties=weeks)
    entries = [
        _log_entry(landed, fp, run_id, status="ingested", result=result) for landed, fp, result in group
    ]
    lake.append(INGEST_LOG, log_rows(entries), partition_by=BY_WEEK)
    if report.preview is None:
        report.preview = kept.head(5)
    for landed, _, result in group:
        report.results[landed.week] = WeekSummary.of(result)


def _log_entry(
    landed: LandedFile, fingerprint: str, run_id: str, status: str, result: IngestResult | None = None,
    reason: str | None = None, data: bytes | None = None,
) -> dict:
    entry = {
        "shop_week": int(landed.week), "file": landed.stored.name, "fingerprint": fingerprint, "size": landed.stored.size,
        "stamp": landed.stored.stamp, "status": status, "reason": reason, "run_id": run_id,
    }
    if result is not None:
        entry |= {"data_lines": result.data_lines, "blank_lines": result.blank_lines,
                  "rows_kept": result.kept.height, "rows_quarantined": result.quarantined.height}
    elif data is not None:
        count = count_lines(data)
        entry |= {"data_lines": count.data_lines, "blank_lines": count.blank_lines, "rows_kept": 0, "rows_quarantined": 0}
    return entry


def quarantine_table(quarantined: pl.DataFrame, week: int) -> pl.DataFrame:
    """Quarantined rows keep their text as it landed; the partition column is the file's week.

    The row's own SHOP_WEEK text (which may be what was wrong with it) stays in `shop_week_text`.
    """
    return quarantined.rename({"shop_week": "shop_week_text"}).select(pl.lit(week, dtype=pl.Int32()).alias("shop_week"), pl.all())


def _unexpected(landed: LandedFile, error: Exception) -> str:
    where = traceback.extract_tb(error.__traceback__)[-1]
    return (
        f"{landed.stored.name}: could not be read ({type(error).__name__}: {error}, at {where.filename}:{where.lineno}); "
        "the file was set aside so the other weeks could go on"
    )
