"""The prediction log's local spool: append-only files of answered requests, one JSON line each
(`Captured`: the answer and the request body as received).

The API appends to its open segment and seals it (renames `.open` to `.ready`) every
`RETAIL_PREDICTION_LOG_FLUSH_SECONDS` or `RETAIL_PREDICTION_LOG_BATCH_ROWS` rows; the shipper
(retail_api.log_shipper) sends sealed segments to the lake and deletes them once committed.
A segment left open by a process that is gone (a crash, a killed pod) is sealed by the next
start, so whatever reached the disk is sent. The spool is bounded by
`RETAIL_PREDICTION_LOG_SPOOL_MAX_BYTES`: past it, new rows are dropped and counted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import msgspec

OPEN, READY = ".open", ".ready"
UNREADABLE = "unreadable"  # sub-folder for lines that cannot be decoded, kept for inspection


class Captured(msgspec.Struct, array_like=True, gc=False):
    """One answered request as the API spools it (one line): the answer, and the request body verbatim.

    The body is embedded as it arrived (msgspec.Raw: a copy, no encoding), so the request pays for a
    few small fields only; the shipper rebuilds each basket's features from it with the same
    decoder and `basket_features` the endpoint used.
    """

    request_id: str
    model_version: str
    batch: bool  # the body is a /v1/predict/batch request, else one basket
    codes: list[str]
    probabilities: list[list[float]]  # per basket: High, Medium, Low
    at: float  # time.time() when answered
    body: msgspec.Raw


def captured(request_id: str, model_version: str, batch: bool, codes: list[str], probabilities: list[list[float]], body: bytes) -> Captured:
    """The spool line's content for an answered request (what the endpoints hand to the log)."""
    if b"\n" in body:  # JSON allows a line break only as whitespace, so a space means the same and keeps one line
        body = body.replace(b"\n", b" ")
    return Captured(request_id, model_version, batch, codes, probabilities, time.time(), msgspec.Raw(body))


class Answered(msgspec.Struct, array_like=True, gc=False):
    """One request's predictions with each basket's features: the rows the shipper writes to the lake."""

    request_id: str
    model_version: str
    feature_version: str
    basket_ids: list[str]
    features: list[dict[str, float]]
    codes: list[str]
    probabilities: list[list[float]]  # per basket: High, Medium, Low
    at: float  # time.time() when answered


def default_spool(lake: str) -> Path:
    """Beside a local lake (`<lake>-prediction-spool`); under the temp folder for an S3 lake."""
    if "://" not in lake:
        path = Path(lake).resolve()
        return path.parent / f"{path.name}-prediction-spool"
    return Path(tempfile.gettempdir()) / "retail-prediction-spool" / hashlib.sha256(lake.encode()).hexdigest()[:16]


class SpoolWriter:
    """The API's side: append lines to one open segment, seal it when old or large enough."""

    def __init__(self, directory: Path, max_bytes: int, segment_seconds: float, segment_rows: int) -> None:
        self.directory, self.max_bytes = directory, max_bytes
        self.segment_seconds, self.segment_rows = segment_seconds, segment_rows
        self._file = None
        self._path: Path | None = None
        self._opened = 0.0
        self._rows = 0

    def recover(self) -> int:
        """Seal segments left open by processes that are gone; returns how many."""
        self.directory.mkdir(parents=True, exist_ok=True)
        sealed = 0
        for path in self.directory.glob(f"*{OPEN}"):
            pid = int(path.stem.rsplit("-", 1)[-1]) if path.stem.rsplit("-", 1)[-1].isdigit() else 0
            if pid != os.getpid() and not _alive(pid):
                path.rename(path.with_suffix(READY))
                sealed += 1
        return sealed

    def used_bytes(self) -> int:
        return sum(entry.stat().st_size for entry in os.scandir(self.directory) if entry.is_file())

    def append(self, lines: bytes, rows: int) -> None:
        """Write encoded lines to the open segment (OSError when the disk refuses)."""
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._path = self.directory / f"{time.time_ns():020d}-{os.getpid()}{OPEN}"
            self._file = open(self._path, "ab")  # noqa: SIM115 - kept open across calls, closed by seal()
            self._opened, self._rows = time.monotonic(), 0
        self._file.write(lines)
        self._file.flush()  # to the OS: a crash of this process after this loses nothing
        self._rows += rows
        if self._rows >= self.segment_rows or time.monotonic() - self._opened >= self.segment_seconds:
            self.seal()

    def seal_if_due(self) -> None:
        if self._file is not None and time.monotonic() - self._opened >= self.segment_seconds:
            self.seal()

    def seal(self) -> None:
        if self._file is None or self._path is None:
            return
        self._file.close()
        self._path.rename(self._path.with_suffix(READY))
        self._file = self._path = None


def ready_segments(directory: Path) -> list[Path]:
    """Sealed segments, oldest first."""
    return sorted(directory.glob(f"*{READY}")) if directory.is_dir() else []


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
