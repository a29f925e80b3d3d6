"""The prediction log's local spool: append-only files of answered requests, one JSON line each
(`Captured`: the answer and the request body as received).

A request hands over a `Record`: its answer already encoded, and the body it received as is, so
the API's writer thread only passes both to one `os.writev` per pass (no copy, no per-basket
work in the API's process).

The API appends to its open segment and seals it (renames `.open` to `.ready`) every
`RETAIL_PREDICTION_LOG_FLUSH_SECONDS` or `RETAIL_PREDICTION_LOG_BATCH_ROWS` rows; the shipper
(retail_api.log_shipper) sends sealed segments to the lake and deletes them once committed.
A segment left open by a process that is gone (a crash, a killed pod) is sealed by the next
start, so whatever reached the disk is sent. The spool is bounded by
`RETAIL_PREDICTION_LOG_SPOOL_MAX_BYTES`: past it, new rows are dropped and counted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import msgspec

log = logging.getLogger(__name__)

OPEN, READY = ".open", ".ready"
_IOV_MAX = 1020  # parts per writev: Linux takes at most 1024 (IOV_MAX)
UNREADABLE = "unreadable"  # sub-folder for lines that cannot be decoded, kept for inspection
_DROP_CACHE = getattr(os, "POSIX_FADV_DONTNEED", None)  # Linux and most Unixes; not macOS


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


class Record(NamedTuple):
    """One spool line in three parts, written as they are: `head` + `body` + RECORD_END is a `Captured` line."""

    head: bytes  # the answer's fields, encoded: ["request_id","model_version",batch,codes,probabilities,at,
    body: bytes  # the request body as received
    rows: int  # baskets answered


RECORD_END = b"]\n"
_encode_head = msgspec.json.Encoder().encode


def captured(request_id: str, model_version: str, batch: bool, codes: list[str], probabilities: list[list[float]], body: bytes) -> Record:
    """The spool line of an answered request (what the endpoints hand to the log).

    The answer is encoded here, in one msgspec call (C, ~0.1 µs a basket), so the queue holds
    only bytes: nothing for the garbage collector to trace, nothing left to do but write.
    """
    if b"\n" in body:  # JSON allows a line break only as whitespace, so a space means the same and keeps one line
        body = body.replace(b"\n", b" ")
    head = _encode_head((request_id, model_version, batch, codes, probabilities, time.time()))
    return Record(head[:-1] + b",", body, len(codes))


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
        self._fd: int | None = None
        self._path: Path | None = None
        self._opened = 0.0
        self._rows = 0
        self._synced = 0  # bytes of the open segment on disk and out of the page cache
        self._size = 0

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

    def append(self, records: list[Record]) -> int:
        """Write records to the open segment, one writev per IOV_MAX parts; returns the bytes written.

        OSError when the disk refuses. What reached the OS is kept by a crash of this process.
        """
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._path = self.directory / f"{time.time_ns():020d}-{os.getpid()}{OPEN}"
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._opened, self._rows, self._synced, self._size = time.monotonic(), 0, 0, 0
        parts = [part for record in records for part in (record.head, record.body, RECORD_END)]
        written = 0
        for start in range(0, len(parts), _IOV_MAX):
            written += _write_all(self._fd, parts[start : start + _IOV_MAX])
        self._size += written
        self._rows += sum(record.rows for record in records)
        if self._rows >= self.segment_rows or time.monotonic() - self._opened >= self.segment_seconds:
            self.seal()
        return written

    def sync(self) -> None:
        """Put what the open segment received since the last call on the disk, then out of the page cache.

        Called after each pass of the writer thread. On disk: a spooled row then survives the
        machine, not only the process. Out of the page cache: the spool keeps a few passes' worth
        of memory instead of growing the cache (and the pod's memory use) with every byte it holds
        while the shipper or the lake lags; the next pass's pages are the ones this one freed,
        still mapped, rather than memory the system has not touched yet, which costs the writer
        several times more on virtual machines that hand unused memory back to their host.
        OSError when the disk refuses (the bytes are still in the file's cache: nothing is dropped).
        """
        if self._fd is None or self._size == self._synced:
            return
        getattr(os, "fdatasync", os.fsync)(self._fd)  # macOS has no fdatasync
        if _DROP_CACHE is not None:
            os.posix_fadvise(self._fd, self._synced, self._size - self._synced, _DROP_CACHE)
        self._synced = self._size

    def seal_if_due(self) -> None:
        if self._fd is not None and time.monotonic() - self._opened >= self.segment_seconds:
            self.seal()

    def seal(self) -> None:
        if self._fd is None or self._path is None:
            return
        try:
            self.sync()  # a sealed segment is on disk before the shipper takes it
        except OSError as error:  # its bytes are in the file's cache, which the kernel writes back later
            log.error("could not sync the prediction spool segment %s before sealing it (%s)", self._path.name, error)
        os.close(self._fd)
        self._path.rename(self._path.with_suffix(READY))
        self._fd = self._path = None


def _write_all(fd: int, parts: list[bytes | memoryview]) -> int:
    """os.writev until every byte is written (a regular file writes short only when the disk fills)."""
    total = left = sum(map(len, parts))
    while left:
        written = os.writev(fd, parts)
        if written == 0:
            raise OSError(f"the disk accepted no more bytes ({left} left)")
        left -= written
        while parts and written >= len(parts[0]):  # drop the parts written whole, then the written start of the next
            written -= len(parts[0])
            parts = parts[1:]
        if parts:
            parts = [memoryview(parts[0])[written:], *parts[1:]]
    return total


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
