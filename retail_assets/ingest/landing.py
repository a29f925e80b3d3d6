"""The landing zone: which weekly files have landed, which need (re-)ingesting, and rejection.

The landing zone is `landing/` under the lake root, on a disk or on S3, reached through the
`Lake` interface. A file's version is its fingerprint (sha256 on a disk, the ETag on S3). Every
attempt raw_transactions makes is appended to the `ingest_log` table (status `ingested` or
`rejected`), so the log says which file version each week was last built from, and a file that
goes A -> B -> A is ingested three times. Shared by the landing sensor, the
raw_transactions asset and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from retail_assets.ingest import contract
from retail_assets.ingest.tables import INGEST_LOG
from retail_model.lake import Lake, StoredObject

LANDING = "landing"
REJECTED = f"{LANDING}/rejected"


@dataclass(frozen=True)
class LandedFile:
    stored: StoredObject
    week: str

    @property
    def key(self) -> str:
        return self.stored.key


def landed_key(week: str) -> str:
    return f"{LANDING}/transactions_{week}.csv"


def landed_files(lake: Lake) -> list[LandedFile]:
    """Weekly files directly in the landing zone (not in rejected/), by week."""
    files = []
    for stored in lake.list_objects(LANDING):
        relative = stored.key[len(LANDING) + 1 :]
        match = contract.FILE_NAME_PATTERN.match(relative)  # a name with a '/' never matches
        if match:
            files.append(LandedFile(stored, match["week"]))
    return sorted(files, key=lambda f: f.week)


@dataclass(frozen=True)
class MisnamedFile:
    """A file in the landing zone that looks like a weekly extract but is not named like one."""

    stored: StoredObject
    reason: str


def misnamed_files(lake: Lake) -> list[MisnamedFile]:
    """Files directly in the landing zone that look meant as weekly files (a name starting with
    `transactions` or ending in `.csv`, any case) but do not match transactions_YYYYWW.csv.

    Hidden files (a copy tool's temporary `.name.part`) are left alone."""
    found = []
    for stored in lake.list_objects(LANDING):
        relative = stored.key[len(LANDING) + 1 :]
        if "/" in relative or relative.startswith(".") or contract.FILE_NAME_PATTERN.match(relative):
            continue
        if contract.LOOKS_LIKE_A_WEEKLY_FILE.search(relative):
            found.append(MisnamedFile(stored, misnamed_reason(relative)))
    return sorted(found, key=lambda f: f.stored.key)


def misnamed_reason(name: str) -> str:
    guess = contract.suggested_name(name)
    hint = f"; rename it {guess}" if guess else ""
    return f"{name}: not ingested, weekly files must be named transactions_YYYYWW.csv (lower case, six digits){hint}"


def reject_misnamed(lake: Lake, misnamed: list[MisnamedFile]) -> list[str]:
    """File each misnamed file under landing/rejected/ with `<file>.error.json`, once per version
    (the sensor looks every 30 s). Returns the names rejected by this call."""
    newly = []
    for file in misnamed:
        target = f"{REJECTED}/{file.stored.name}"
        previous = lake.read_json(f"{target}.error.json") or {}
        if previous.get("stamp") == file.stored.stamp and previous.get("size") == file.stored.size:
            continue
        lake.copy(file.stored.key, target)
        lake.write_json(
            f"{target}.error.json",
            {"file": file.stored.name, "reason": file.reason, "size": file.stored.size, "stamp": file.stored.stamp,
             "rejected_at": datetime.now(UTC).isoformat(timespec="seconds")},
        )
        newly.append(file.stored.name)
    return newly


def still_rejected(lake: Lake) -> dict[str, str]:
    """week -> reason, for every landed week whose latest file version was rejected and not re-delivered since."""
    recorded = ingested_versions(lake)
    rejected = {}
    for landed in landed_files(lake):
        record = recorded.get(landed.week) or {}
        if record.get("status") != "rejected":
            continue
        unchanged = (record.get("size"), record.get("stamp")) == (landed.stored.size, landed.stored.stamp)
        if unchanged or lake.fingerprint(landed.stored) == record.get("fingerprint"):
            rejected[landed.week] = record.get("reason") or ""
    return rejected


def ingested_versions(lake: Lake) -> dict[str, dict]:
    """week -> the latest ingest_log entry for it (file, fingerprint, size, stamp, status, counts)."""
    snapshot = lake.snapshot(INGEST_LOG)
    if snapshot is None:
        return {}
    # A landing asks this four or five times (the scan, the load, two checks); one read per log version.
    key = (lake.table_uri(INGEST_LOG), snapshot.version)
    entries = _LATEST_ENTRIES.get(key)
    if entries is None:
        latest = (
            snapshot.frame.sort("logged_at")
            .group_by("shop_week")
            .agg(pl.all().last(), pl.len().alias("generation"))  # generation: how many attempts the week has seen
            .collect()
        )
        entries = {str(row["shop_week"]): row for row in latest.iter_rows(named=True)}
        _LATEST_ENTRIES.clear()  # only the latest version is asked for again
        _LATEST_ENTRIES[key] = entries
    return {week: dict(entry) for week, entry in entries.items()}  # copies: callers may change theirs


_LATEST_ENTRIES: dict[tuple[str, int], dict[str, dict]] = {}


def land_directory(source: Path, lake: Lake) -> list[str]:
    """Copy (or upload) a directory's weekly files into the landing zone; unchanged files are skipped.

    Files that look meant as weekly files but are misnamed are landed too, under their own name,
    so the landing zone rejects them with a reason instead of them going unnoticed here."""
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is not a directory of transactions_YYYYWW.csv files")
    landed = []
    for path in sorted(source.iterdir()):
        match = contract.FILE_NAME_PATTERN.match(path.name)
        meant = not path.name.startswith(".") and contract.LOOKS_LIKE_A_WEEKLY_FILE.search(path.name)
        if path.is_file() and (match or meant):
            key = landed_key(match["week"]) if match else f"{LANDING}/{path.name}"
            if not lake.holds_copy_of(path, key):
                lake.upload_file(path, key)
            landed.append(key)
    return landed


def reject_file(lake: Lake, landed: LandedFile, fingerprint: str, reason: str) -> str:
    """File a whole unreadable file under landing/rejected/ with `<file>.error.json` saying why."""
    name = landed.stored.name
    target = f"{REJECTED}/{name}"
    lake.copy(landed.key, target)
    lake.write_json(
        f"{target}.error.json",
        {"file": name, "fingerprint": fingerprint, "reason": reason, "rejected_at": datetime.now(UTC).isoformat(timespec="seconds")},
    )
    return lake.uri_of(target)


LOG_SCHEMA = {
    "shop_week": pl.Int32(),
    "file": pl.String(),
    "fingerprint": pl.String(),  # of the bytes that were parsed
    "size": pl.Int64(),
    "stamp": pl.String(),
    "status": pl.String(),  # ingested | rejected
    "reason": pl.String(),  # why a file was rejected
    "data_lines": pl.Int64(),  # counted from the bytes, independently of the parser
    "blank_lines": pl.Int64(),
    "rows_kept": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "run_id": pl.String(),
    "logged_at": pl.Datetime("us", "UTC"),
}


def log_rows(entries: list[dict]) -> pl.DataFrame:
    now = datetime.now(UTC)
    return pl.DataFrame([{**dict.fromkeys(LOG_SCHEMA), "logged_at": now, **entry} for entry in entries], schema=LOG_SCHEMA)
