"""The prediction log, API side: a request hands its answer over and returns; nothing else.

`sampled` picks the share of requests kept (`RETAIL_PREDICTION_LOG_CAPTURE_PERCENT`, 100 by
default, as SageMaker's data capture samples) before the endpoint builds anything for the log, and
`record` appends a kept request to an in-memory queue as one `Record`:
its answer, encoded, and the request body as received (retail_api.prediction_spool). A writer
thread appends the queue to the local spool every 0.2 s (sooner once it holds
`_WRITE_BYTES`), one JSON line per request, in one writev of the bytes as they are (no copy, no
per-basket work in this process), and the
shipper process (retail_api.log_shipper) rebuilds each basket's features from the body and sends
sealed segments to the lake's predictions/ Delta table. Features, Parquet and Delta therefore
never cost the API's process anything.

Nothing is lost when the lake is down: rows wait in the spool (and across restarts). What is
lost anyway is counted in `retail_api_prediction_log_rows_dropped_total{reason}`: queue_full
(the disk falls behind), spool_full (RETAIL_PREDICTION_LOG_SPOOL_MAX_BYTES reached), spool_failed
(the disk refuses) or unreadable (a damaged spool line).
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from retail_api.log_shipper import UNREADABLE_ROWS, WRITE_FAILURES, WRITTEN, Shipper
from retail_api.metrics import ServiceMetrics
from retail_api.prediction_spool import Record, SpoolWriter, captured

log = logging.getLogger(__name__)

WRITE_SECONDS = 0.2  # how often the writer thread moves the queue to the spool
_WRITE_BYTES = 8 << 20  # ... or as soon as the queue holds this much: bodies wait in memory no longer than needed
_WRITE_CHUNK = 256  # requests per writev pass

__all__ = ["NoPredictionLog", "PredictionLog", "PredictionSink", "Record", "captured"]


class PredictionSink(Protocol):
    def sampled(self, rows: int) -> bool: ...

    def record(self, answered: Record) -> None: ...


class PredictionLog:
    def __init__(
        self,
        spool: Path,
        metrics: ServiceMetrics,
        shipper: Shipper | None,
        capture_percent: float = 100.0,
        flush_seconds: float = 5.0,
        batch_rows: int = 20_000,
        queue_rows: int = 200_000,
        spool_max_bytes: int = 1 << 30,
    ) -> None:
        self.writer = SpoolWriter(spool, spool_max_bytes, flush_seconds, batch_rows)
        self.shipper, self.queue_rows = shipper, queue_rows
        self.capture = capture_percent / 100.0
        self._queue: deque[Record] = deque()
        self._queued_rows = self._queued_bytes = 0
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._spool_bytes = 0
        self.captured = self.sampled_out = 0
        self.dropped = {"queue_full": 0, "spool_full": 0, "spool_failed": 0}
        metrics.registry.register(_Collector(self))

    def sampled(self, rows: int) -> bool:
        """Whether a request of `rows` predictions is captured (the sampling rate); one left out is counted.

        Asked before the request's `Record` is built, so a request the sample leaves out costs
        nothing more: at 10% capture, nine requests in ten do not encode a spool line.
        """
        if self.capture >= 1.0 or random.random() < self.capture:
            return True
        self.sampled_out += rows
        return False

    def record(self, answered: Record) -> None:
        """Queue one sampled request's predictions. Never raises, never waits."""
        rows = answered.rows
        with self._lock:
            accepted = self._queued_rows + rows <= self.queue_rows
            if accepted:
                self._queue.append(answered)
                self._queued_rows += rows
                self._queued_bytes += len(answered.body)
        if accepted:
            self.captured += rows
            if self._queued_bytes >= _WRITE_BYTES:
                self._wake.set()
        else:
            self.dropped["queue_full"] += rows

    def start(self) -> None:
        try:
            self.writer.recover()  # segments a previous process left open are sent too
        except OSError as error:  # the API serves anyway; every row it cannot spool is counted
            log.error("the prediction spool %s cannot be used (%s): predictions are not recorded", self.writer.directory, error)
        self._spool_bytes = self._used_bytes()
        if self.shipper is not None:
            self.shipper.start()
        self._thread = threading.Thread(target=self._run, name="prediction-log-spool", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Spool what is queued, seal the segment, and let the shipper send what it can within `timeout`."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.spool_queued()
        try:
            self.writer.seal()
        except OSError as error:
            log.error("could not seal the prediction spool segment (%s); it is sealed and sent on the next start", error)
        if self.shipper is not None:
            self.shipper.stop(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(WRITE_SECONDS)
            self._wake.clear()
            self.spool_queued()

    def spool_queued(self) -> None:
        """Move every queued answer to the spool (the writer thread calls this; close() too)."""
        with self._lock:
            taken = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
        if taken:
            self._spool_bytes = self._used_bytes()  # the shipper empties it meanwhile
        for start in range(0, len(taken), _WRITE_CHUNK):
            chunk = taken[start : start + _WRITE_CHUNK]
            rows = sum(item.rows for item in chunk)
            self._write(chunk, rows)
            with self._lock:
                self._queued_rows -= rows
        try:
            self.writer.sync()
            self.writer.seal_if_due()
        except OSError as error:
            log.error("could not sync or seal the prediction spool segment: %s", error)

    def _write(self, chunk: list[Record], rows: int) -> None:
        if self._spool_bytes >= self.writer.max_bytes:
            self.dropped["spool_full"] += rows
            return
        try:
            self._spool_bytes += self.writer.append(chunk)
        except OSError as error:
            self.dropped["spool_failed"] += rows
            log.error("cannot write to the prediction spool %s (%s); %d rows dropped", self.writer.directory, error, rows)

    def _used_bytes(self) -> int:
        try:
            return self.writer.used_bytes()
        except OSError:  # the spool folder cannot be read: writing to it will say why
            return 0


class NoPredictionLog:
    """RETAIL_PREDICTION_LOG=false: answers are not recorded, and no request builds a `Record`."""

    def sampled(self, rows: int) -> bool:
        return False

    def record(self, answered: Record) -> None:
        pass


class _Collector:
    """The prediction log's counters for /metrics, read from this process and the shipper's shared counters."""

    def __init__(self, owner: PredictionLog) -> None:
        self.owner = owner

    def collect(self) -> Any:
        owner, shipper = self.owner, self.owner.shipper
        written = shipper.count(WRITTEN) if shipper else 0
        yield _counter("captured", "Prediction rows handed to the log (after sampling).", owner.captured)
        yield _counter("sampled_out", "Prediction rows not captured: RETAIL_PREDICTION_LOG_CAPTURE_PERCENT < 100.", owner.sampled_out)
        yield _counter("written", "Prediction rows committed to the predictions table by the shipper.", written)
        dropped = CounterMetricFamily(
            "retail_api_prediction_log_rows_dropped",
            "Prediction rows never written: queue_full, spool_full, spool_failed (the local disk) or unreadable (a damaged spool line).",
            labels=["reason"],
        )
        for reason, rows in owner.dropped.items():
            dropped.add_metric([reason], rows)
        dropped.add_metric(["unreadable"], shipper.count(UNREADABLE_ROWS) if shipper else 0)
        yield dropped
        yield CounterMetricFamily(
            "retail_api_prediction_log_write_failures", "Failed attempts to write spooled rows to the predictions table.",
            value=shipper.count(WRITE_FAILURES) if shipper else 0,
        )  # fmt: skip
        yield GaugeMetricFamily("retail_api_prediction_log_queued_rows", "Prediction rows in memory, not yet spooled.", value=owner._queued_rows)
        yield GaugeMetricFamily(
            "retail_api_prediction_log_spool_bytes", "Bytes in the local spool not yet sent to the lake.",
            value=owner._used_bytes(),
        )  # fmt: skip


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"retail_api_prediction_log_rows_{name}", documentation, value=value)
