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
    sha256: str


def landed_files(paths: LakePaths) -> list[LandedFile]:
    files = []
    for path in sorted(paths.landing.glob("transactions_*.csv")):
        match = contract.FILE_NAME_PATTERN.match(path.name)
        if match:
            files.append(LandedFile(path, match["week"], file_fingerprint(path)))
    return files


def pending_files(paths: LakePaths) -> list[LandedFile]:
    """Landed files whose week has no raw partition yet, or one built from other content."""
    return [f for f in landed_files(paths) if (read_json(paths.raw(f.week) / SOURCE_FILE) or {}).get("sha256") != f.sha256]


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
