"""Which landed files need (re-)ingesting. Plain logic shared by the landing sensor and the CLI."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from retail_assets import contract
from retail_assets.ingest import file_fingerprint
from retail_assets.lake import LakePaths, read_json

SOURCE_FILE = "_SOURCE.json"


@dataclass(frozen=True)
class LandedFile:
    path: Path
    week: str


@dataclass(frozen=True)
class PendingFile:
    path: Path
    week: str
    sha256: str


def landed_files(paths: LakePaths) -> list[LandedFile]:
    files = []
    for path in sorted(paths.landing.glob("transactions_*.csv")):
        match = contract.FILE_NAME_PATTERN.match(path.name)
        if match:
            files.append(LandedFile(path, match["week"]))
    return files


def source_record(path: Path) -> dict:
    """What raw_transactions records about the file it ingested (in the partition's _SOURCE.json)."""
    stat = path.stat()
    return {"file": path.name, "sha256": file_fingerprint(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def pending_files(paths: LakePaths) -> list[PendingFile]:
    """Landed files whose week has no raw partition yet, or one built from other content.

    The sensor asks this every tick, so a file whose size and mtime match the record is not
    hashed again; only a file that looks different is, and only new content makes it pending.
    """
    pending = []
    for landed in landed_files(paths):
        recorded = read_json(paths.raw(landed.week) / SOURCE_FILE) or {}
        stat = landed.path.stat()
        if (recorded.get("size"), recorded.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns):
            continue
        sha256 = file_fingerprint(landed.path)
        if recorded.get("sha256") != sha256:
            pending.append(PendingFile(landed.path, landed.week, sha256))
    return pending


def land_directory(source: Path, paths: LakePaths) -> list[Path]:
    """Copy a directory's weekly files into the landing zone (the contract's file names only)."""
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is not a directory of transactions_YYYYWW.csv files")
    paths.landing.mkdir(parents=True, exist_ok=True)
    landed = []
    for path in sorted(source.iterdir()):
        if contract.FILE_NAME_PATTERN.match(path.name):
            target = paths.landing / path.name
            if not target.exists() or file_fingerprint(target) != file_fingerprint(path):
                shutil.copy2(path, target)
            landed.append(target)
    return landed
