"""The prediction log's shipper: a separate process that sends spooled answers to the Delta table.

Started by the API beside itself (multiprocessing, spawn), at a lower CPU priority, so computing
features, building Parquet files and Delta commits never holds the API's GIL nor delays a
request. Every `interval` seconds it reads the sealed spool segments (retail_api.prediction_spool),
rebuilds each request's baskets and features from its body, appends the rows to the lake's
predictions/ table in one commit, and deletes the segments once committed.
When the lake refuses, the segments stay on disk and are retried with backoff (up to a minute
apart), then at the next start: nothing is lost while the spool has room. Delivery is at least
once: a crash between a commit and the deletion sends those rows again (same request_id).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from itertools import chain
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from retail_api.decoding import unchecked
from retail_api.prediction_spool import UNREADABLE, Answered, Captured, ready_segments
from retail_api.schemas import BasketIn, BatchIn
from retail_model.features import FEATURE_VERSION, basket_features
from retail_model.labels import CLASS_BY_CODE
from retail_model.lake import Lake, open_lake
from retail_model.predictions import PARTITION_BY, PREDICTIONS_SCHEMA, PREDICTIONS_TABLE, features_digest

log = logging.getLogger(__name__)

# Shared counters (multiprocessing.Array of int64), read by the API's /metrics.
WRITTEN, WRITE_FAILURES, UNREADABLE_ROWS, READY = range(4)
MAX_COMMIT_ROWS = 100_000
MAX_BACKOFF_SECONDS = 60.0
_decode = msgspec.json.Decoder(Captured).decode
# The endpoint accepted these bodies: decoding them again skips its checks (retail_api.decoding).
_decode_basket = msgspec.json.Decoder(unchecked(BasketIn)).decode
_decode_batch = msgspec.json.Decoder(unchecked(BatchIn)).decode


class Shipper:
    """The shipper process, started and stopped by the API's lifespan."""

    def __init__(self, spool: Path, lake: str, aws: Any, interval: float) -> None:
        self._context = multiprocessing.get_context("spawn")  # no fork of a running event loop and its threads
        # Lock-free: only the shipper writes them, and a lock held by a killed shipper would hang /metrics.
        self.counters = self._context.RawArray("q", 4)
        self._args = (str(spool), lake, aws, self.counters, interval)
        self._process: Any = None

    def start(self) -> None:
        self._process = self._context.Process(target=run, args=self._args, name="prediction-log-shipper", daemon=True)
        self._process.start()

    def stop(self, timeout: float) -> None:
        """One last pass over the spool, then exit; what is still not sent stays in the spool for the next start."""
        if self._process is None:
            return
        deadline = time.monotonic() + timeout
        while not self.counters[READY] and self._process.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # still starting (imports): a SIGTERM now would end it before its last pass
        self._process.terminate()  # SIGTERM: the shipper makes its last pass and exits
        self._process.join(timeout)
        if self._process.is_alive():
            log.warning("the prediction log shipper did not finish within %.0fs; its segments stay in the spool", timeout)
            self._process.kill()
            self._process.join(5)

    def count(self, which: int) -> int:
        return int(self.counters[which])


def run(spool: str, lake_uri: str, aws: Any, counters: Any, interval: float) -> None:
    """The shipper process's loop (its entry point). SIGTERM or SIGINT (the API stopping, or the
    whole process group signalled): one last pass, then exit."""
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.nice(10)  # the API answers first when both want the CPU
    _batch_scheduling()
    parent = os.getppid()
    directory = Path(spool)
    lake = open_lake(lake_uri, aws)
    counters[READY] = 1
    wait, last_error = interval, None
    while not stop.is_set() and os.getppid() == parent:  # the API gone (even killed): stop too
        try:
            ship(directory, lake, counters)
            wait, last_error = interval, None
        except Exception as error:  # the lake refuses or is unreachable: keep the segments, retry later
            counters[WRITE_FAILURES] += 1
            if str(error) != last_error:
                log.error("cannot write predictions to %s (%s: %s); they stay in %s and are retried", lake.uri_of(PREDICTIONS_TABLE),
                          type(error).__name__, error, directory)  # fmt: skip
            last_error = str(error)
            wait = min(max(wait * 2, interval), MAX_BACKOFF_SECONDS)
        deadline = time.monotonic() + wait
        while not stop.is_set() and os.getppid() == parent and time.monotonic() < deadline:
            stop.wait(min(1.0, deadline - time.monotonic()))  # a long backoff still notices a stop within a second
    try:
        ship(directory, lake, counters)  # what was sealed before the API stopped
    except Exception as error:
        counters[WRITE_FAILURES] += 1
        log.error("predictions not sent at shutdown (%s: %s); they stay in %s and are sent on the next start", type(error).__name__, error, directory)


def _batch_scheduling() -> None:
    """Linux's SCHED_BATCH: the shipper, CPU-bound, never preempts the API when it wakes; it runs
    when the API's time slice ends or the API waits, so the API is switched out (and its caches
    refilled) less often. Its share of a busy CPU is nice 10's all the same; elsewhere, a no-op."""
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is not None:
        try:
            os.sched_setscheduler(0, policy, os.sched_param(0))
        except OSError as error:
            log.info("the shipper runs with the default scheduling (%s)", error)


def ship(directory: Path, lake: Lake, counters: Any) -> int:
    """Send every sealed segment (in commits of up to MAX_COMMIT_ROWS rows); returns rows written."""
    written = 0
    segments = ready_segments(directory)
    while segments:
        batch, rows, answered = [], 0, []
        while segments and rows < MAX_COMMIT_ROWS:
            segment = segments.pop(0)
            items = _read(segment, counters)
            answered += items
            rows += sum(len(item.basket_ids) for item in items)
            batch.append(segment)
        if answered:
            lake.append(PREDICTIONS_TABLE, to_frame(answered), partition_by=list(PARTITION_BY))
            counters[WRITTEN] += rows
            written += rows
        for segment in batch:
            segment.unlink()
    return written


def _read(segment: Path, counters: Any) -> list[Answered]:
    items, bad = [], []
    for line in segment.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            items.append(rebuild(_decode(line)))
        except (msgspec.DecodeError, ValueError):  # a torn last line (the API killed mid-write) or a damaged file
            bad.append(line)
    if bad:
        (directory := segment.parent / UNREADABLE).mkdir(exist_ok=True)
        (directory / segment.name).write_bytes(b"\n".join(bad) + b"\n")
        counters[UNREADABLE_ROWS] += len(bad)  # a line is at least one row; its basket count is unreadable too
        log.error("%d unreadable line(s) in %s kept in %s and counted as dropped", len(bad), segment.name, directory)
    return items


def rebuild(request: Captured) -> Answered:
    """A spooled request's rows: its baskets' ids and features from the body, decoded as the endpoint
    did (the same fields, without re-checking what it accepted) and computed by the same
    basket_features, with the answer the API gave."""
    baskets = _decode_batch(request.body).baskets if request.batch else [_decode_basket(request.body)]
    if len(baskets) != len(request.codes) or len(request.probabilities) != len(request.codes):
        raise ValueError(f"{len(baskets)} baskets but {len(request.codes)} answers")
    return Answered(request.request_id, request.model_version, FEATURE_VERSION, [basket.basket_id for basket in baskets],
                    [basket_features(basket) for basket in baskets], request.codes, request.probabilities, request.at)  # fmt: skip


class _Positions(dict):
    """name -> its position, numbering names in the order they first appear."""

    def __missing__(self, name: str) -> int:
        position = self[name] = len(self)
        return position


def to_frame(answered: list[Answered]) -> pl.DataFrame:
    """The rows of the predictions table (retail_model.predictions) for a list of answered requests.

    Built as Arrow arrays in C loops: feature names are looked up in a dict (map over
    __getitem__) and stored dictionary-encoded, then cast to strings.
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
            "features_digest": pa.array([features_digest(row) for row in features], pa.string()),
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
