"""The prediction log: every answer, written in batches to the lake's predictions/ Delta table.

The request path only appends a reference to what it already computed to a bounded in-memory
queue (no I/O, no hashing, no copies). A writer thread wakes every `flush_seconds` (or sooner
when `batch_rows` are waiting), builds one frame, and appends it through the `Lake` interface, on
a disk or on S3. A full queue or a failing sink never fails or slows a request: rows that cannot
be queued or written are dropped and counted (retail_api_prediction_log_rows_dropped_total).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from itertools import chain
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from retail_api.metrics import ServiceMetrics
from retail_model.labels import CLASS_BY_CODE
from retail_model.lake import Lake
from retail_model.predictions import PARTITION_BY, PREDICTIONS_SCHEMA, PREDICTIONS_TABLE, features_digest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answered:
    """One request's predictions, as the endpoint computed them (nothing is copied)."""

    request_id: str
    model_version: str
    feature_version: str
    basket_ids: list[str]
    features: list[dict[str, float]]
    codes: list[str]
    probabilities: list[list[float]]  # per basket: High, Medium, Low
    at: float  # time.time() when answered


class PredictionSink(Protocol):
    def record(self, answered: Answered) -> None: ...


class PredictionLog:
    def __init__(
        self,
        lake: Lake,
        metrics: ServiceMetrics,
        flush_seconds: float = 5.0,
        batch_rows: int = 20_000,
        queue_rows: int = 200_000,
        max_attempts: int = 3,
    ) -> None:
        self.lake, self.metrics = lake, metrics
        self.flush_seconds, self.batch_rows, self.queue_rows, self.max_attempts = flush_seconds, batch_rows, queue_rows, max_attempts
        self._queue: deque[Answered] = deque()
        self._queued_rows = 0  # rows in _queue plus rows of failed frames awaiting a retry
        self._retry: list[tuple[pl.DataFrame, int]] = []  # (frame, attempts so far)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        metrics.log_queued.set_function(lambda: self._queued_rows)

    def record(self, answered: Answered) -> None:
        """Queue one request's predictions; drops (and counts) them when the queue is full. Never raises."""
        rows = len(answered.basket_ids)
        with self._lock:
            accepted = self._queued_rows + rows <= self.queue_rows
            if accepted:
                self._queue.append(answered)
                self._queued_rows += rows
            waiting = self._queued_rows
        if not accepted:
            self.metrics.log_dropped.labels("queue_full").inc(rows)
        elif waiting >= self.batch_rows:
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer (waiting at most `timeout` seconds)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the prediction log did not finish writing within %.0fs; %d rows are lost", timeout, self._queued_rows)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
        self.flush()  # what was answered before close

    def flush(self) -> None:
        """Write every waiting row now (the writer thread calls this; tests may too)."""
        with self._lock:
            taken = list(self._queue)
            self._queue.clear()
        if taken:
            try:
                self._retry.append((to_frame(taken), 0))
            except Exception:  # a row that cannot become a frame must not stop the log
                log.exception("could not build prediction log rows; %d rows dropped", sum(len(a.basket_ids) for a in taken))
                self._forget(sum(len(a.basket_ids) for a in taken), "write_failed")
        while self._retry:
            frame, attempts = self._retry[0]
            try:
                self.lake.append(PREDICTIONS_TABLE, frame, partition_by=list(PARTITION_BY))
            except Exception as error:  # the sink is down or refuses: keep the rows for the next try
                self.metrics.log_write_failures.inc()
                self._report(f"cannot write to {self.lake.uri_of(PREDICTIONS_TABLE)}: {type(error).__name__}: {error}")
                if attempts + 1 >= self.max_attempts:
                    self._retry.pop(0)
                    self._forget(frame.height, "write_failed")
                else:
                    self._retry[0] = (frame, attempts + 1)
                return
            self._retry.pop(0)
            self._forget(frame.height, None)
            self.metrics.log_written.inc(frame.height)
            if self._last_error is not None:
                log.info("the prediction log writes again")
                self._last_error = None

    def _forget(self, rows: int, dropped_because: str | None) -> None:
        with self._lock:
            self._queued_rows -= rows
        if dropped_because is not None:
            self.metrics.log_dropped.labels(dropped_because).inc(rows)

    def _report(self, message: str) -> None:
        if message != self._last_error:  # once per distinct problem, not once per flush
            log.error("%s; predictions keep being served and queued (up to %d rows)", message, self.queue_rows)
        self._last_error = message


class NoPredictionLog:
    """RETAIL_PREDICTION_LOG=false: answers are not recorded."""

    def record(self, answered: Answered) -> None:
        pass


class _Positions(dict):
    """name -> its position, numbering names in the order they first appear."""

    def __missing__(self, name: str) -> int:
        position = self[name] = len(self)
        return position


def to_frame(answered: list[Answered]) -> pl.DataFrame:
    """The rows of the predictions table (retail_model.predictions) for a list of answered requests.

    Built as Arrow arrays in C loops: feature names are looked up in a dict (map over
    __getitem__) and stored dictionary-encoded, then cast to strings. Converting the ~65 name
    strings of every row one by one cost ~30 µs a row, and this runs in the API's process.
    """
    request_ids: list[str] = []
    basket_ids: list[str] = []
    versions: list[str] = []
    feature_versions: list[str] = []
    codes: list[str] = []
    stamps: list[int] = []
    probabilities: list[list[float]] = []
    features: list[dict[str, float]] = []
    for item in answered:
        n = len(item.basket_ids)
        request_ids += [item.request_id] * n
        basket_ids += item.basket_ids
        versions += [item.model_version] * n
        feature_versions += [item.feature_version] * n
        codes += item.codes
        stamps += [int(item.at * 1_000_000)] * n
        probabilities += item.probabilities
        features += item.features
    digests = []
    for number, row in enumerate(features, start=1):
        digests.append(features_digest(row))
        if number % 64 == 0:
            # Let the event loop run: this thread holds the GIL while it hashes rows, and the
            # loop would otherwise wait up to the interpreter's 5 ms switch interval for it.
            time.sleep(0)
    lengths = np.fromiter(map(len, features), dtype=np.int32, count=len(features))
    offsets = pa.array(np.concatenate(([0], np.cumsum(lengths, dtype=np.int32))), pa.int32())
    total = int(lengths.sum())
    positions = _Positions()
    name_ids = np.fromiter(map(positions.__getitem__, chain.from_iterable(features)), dtype=np.int32, count=total)
    names = pa.DictionaryArray.from_arrays(pa.array(name_ids), pa.array(list(positions), pa.string())).cast(pa.string())
    values = np.fromiter(chain.from_iterable(row.values() for row in features), dtype=np.float64, count=total)
    matrix = np.asarray(probabilities, dtype=np.float64).reshape(-1, 3)
    stamp_array = pa.array(stamps, pa.timestamp("us", tz="UTC"))
    table = pa.table(
        {
            "request_id": pa.array(request_ids, pa.string()),
            "basket_id": pa.array(basket_ids, pa.string()),
            "model_version": pa.array(versions, pa.string()),
            "feature_version": pa.array(feature_versions, pa.string()),
            "features_digest": pa.array(digests, pa.string()),
            "feature_names": pa.ListArray.from_arrays(offsets, names),
            "feature_values": pa.ListArray.from_arrays(offsets, pa.array(values, pa.float64())),
            "probability_high": matrix[:, 0],
            "probability_medium": matrix[:, 1],
            "probability_low": matrix[:, 2],
            "predicted_code": pa.array(codes, pa.string()),
            "price_sensitivity": pa.array([CLASS_BY_CODE[code] for code in codes], pa.string()),
            "predicted_at": stamp_array,
            "date": pc.cast(stamp_array, pa.date32()),
        }
    )
    return pl.from_arrow(table).cast(PREDICTIONS_SCHEMA)  # type: ignore[return-value]
