"""The lake: Delta tables and plain objects under one root, a directory or `s3://bucket/prefix`.

`Lake` is the one interface every data asset, sensor and the API's prediction log use. Its
tables are Delta Lake tables written and read with polars and deltalake through the same code
on a disk and on S3; only the object operations (list, read, write, copy) differ, in
`LocalLake` and `S3Lake`. Why Delta: replacing partitions is one commit, so a reader never sees
a mix of old and new rows or a missing partition, and every commit is a version a model can
record and a reader can travel back to (`scan(table, version=N)`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import TableNotFoundError

from retail_model.lake import delta

# Commit-info keys: the token that lets a writer find the version its own commit became, and
# the versions of the tables the written rows were built from (lineage).
_COMMIT_TOKEN = "retail_mlops.commit"
_LINEAGE = "retail_mlops.lineage"
_PROPERTIES = "retail_mlops.properties"


Frames = pl.DataFrame | Iterable[pl.DataFrame]
# Small row groups: a reader filtering on a sorted column (a week range) skips most of a file.
_WRITER_PROPERTIES = WriterProperties(max_row_group_size=32_768)


_SQL_TYPES = {pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INT", pa.int64(): "BIGINT"}


_PINNED_HANDLES = 64  # Delta table handles kept per lake, each pinned at one version


@dataclass
class _Handles:
    trackers: threading.local = field(default_factory=threading.local)  # per thread: table -> handle at the latest version
    pinned: dict = field(default_factory=dict)  # (table, options, version) -> handle, least recently used first
    guard: threading.Lock = field(default_factory=threading.Lock)


class LakeError(Exception):
    """A lake operation that cannot be done as asked (missing object, bad address)."""


class LockBusyError(LakeError):
    """Another process holds a lake lock for longer than we were willing to wait."""


class LockLostError(LakeError):
    """The lock was taken over while held (its holder stalled past the lease): exclusivity was not kept."""


@dataclass(frozen=True)
class StoredObject:
    """An object in the lake. `stamp` changes whenever the object is rewritten (mtime or ETag)."""

    key: str  # relative to the lake root, '/'-separated
    size: int
    stamp: str

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Commit:
    version: int
    lineage: dict[str, int]  # source table -> the version this commit was built from
    properties: dict[str, str]
    operation: str = ""  # Delta's name for it: WRITE, OPTIMIZE, VACUUM END, ...


@dataclass(frozen=True)
class TableSnapshot:
    """A table pinned at one version: every read of `frame` sees exactly that commit."""

    frame: pl.LazyFrame
    version: int


class Lake(ABC):
    """Delta tables and objects under `uri`. Subclasses implement only the object operations."""

    uri: str

    # -- Delta tables -----------------------------------------------------------------------

    def table_uri(self, table: str) -> str:
        return self.uri_of(table)

    @abstractmethod
    def storage_options(self) -> dict[str, str] | None:
        """What deltalake/polars need to reach the tables (None on a local disk)."""

    def table_version(self, table: str) -> int | None:
        """The latest committed version, or None when the table has never been written."""
        return self._latest_version(table)  # no handle pinned at it: a writer asks this after every commit

    def snapshot(self, table: str, version: int | None = None) -> TableSnapshot | None:
        """The table at `version` (default: the latest), or None when it does not exist yet."""
        delta = self._open(table, version)
        if delta is None:
            return None
        # The pinned handle itself, not its address: polars would open and replay the log again.
        return TableSnapshot(pl.scan_delta(delta, storage_options=self.storage_options()), delta.version())

    def scan(self, table: str, version: int | None = None) -> pl.LazyFrame | None:
        snapshot = self.snapshot(table, version)
        return None if snapshot is None else snapshot.frame

    def count_rows(self, table: str, version: int | None = None) -> int:
        """Rows in the table, from the record counts its Delta log keeps per file (no data read)."""
        delta = self._open(table, version)
        if delta is None:
            return 0
        counts = pl.DataFrame(delta.get_add_actions(flatten=True))["num_records"]  # polars: pyarrow would import pandas
        if counts.null_count():  # a file written without statistics: count its rows the slow way
            return pl.scan_delta(delta, storage_options=self.storage_options()).select(pl.len()).collect().item()
        return int(counts.sum())

    def rows_by(self, table: str, column: str, values: Sequence[object] | None = None, version: int | None = None) -> dict[object, int]:
        """Rows per value of `column` (only `values`, if given), from the log's per-file record
        counts wherever a file holds a single value of it (a partition column, or min = max), so
        a count over a long history reads no data. Files that may hold several of the values
        asked about are read, through a scan that skips the rest."""
        wanted = None if values is None else sorted(set(values))
        delta = self._open(table, version)
        if delta is None or wanted == []:
            return {}
        actions = pl.DataFrame(delta.get_add_actions(flatten=True))
        if f"partition.{column}" in actions.columns:
            value = pl.col(f"partition.{column}")
        elif {f"min.{column}", f"max.{column}", f"null_count.{column}"} <= set(actions.columns):
            value = pl.when((pl.col(f"min.{column}") == pl.col(f"max.{column}")) & (pl.col(f"null_count.{column}") == 0)).then(
                pl.col(f"min.{column}")
            )
        else:
            value = pl.lit(None)
        files = actions.select(pl.col("num_records"), value.alias("value"), *_bounds(actions, column))
        single = files.filter(pl.col("value").is_not_null() & pl.col("num_records").is_not_null())
        several = files.filter(pl.col("value").is_null() | pl.col("num_records").is_null())
        if wanted is not None:
            single = single.filter(pl.col("value").is_in(wanted))
            several = several.filter(_may_hold_any(wanted))
        counts = dict(single.group_by("value").agg(pl.col("num_records").sum()).iter_rows())
        if several.height:  # read, through a scan that prunes by the same statistics
            frame = pl.scan_delta(delta, storage_options=self.storage_options())
            if wanted is not None:
                frame = frame.filter(pl.col(column).is_in(wanted))
            counts = dict(frame.group_by(column).agg(pl.len()).collect().iter_rows())
        return {key: int(rows) for key, rows in counts.items() if rows}

    def replace_partitions(
        self,
        table: str,
        frame: Frames,
        partition_by: Sequence[str],
        partitions: Sequence[Mapping[str, object]],
        lineage: Mapping[str, int] | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> int:
        """Replace exactly `partitions` (values of `partition_by`) with `frame`, in one commit.

        `frame` may be an iterable of frames (same schema, the first one may be empty): they are
        streamed into the one commit, so a rebuild never holds the whole table in memory.

        A listed partition with no rows in `frame` ends up empty, never stale. Rows outside the
        listed partitions are refused by deltalake, so a writer cannot clobber its neighbours.
        Returns the table version this commit created.
        """
        if not partitions:
            raise LakeError(f"replace_partitions on {table} needs at least one partition")
        predicate = " OR ".join(
            "(" + " AND ".join(f"{column} = {_sql_literal(values[column])}" for column in partition_by) + ")"
            for values in partitions
        )
        return self._write(
            table, frame, lineage, properties, mode="overwrite", partition_by=partition_by, replace=partitions, predicate=predicate
        )

    def replace_where(
        self,
        table: str,
        frame: Frames,
        partition_by: Sequence[str],
        column: str,
        values: Sequence[object],
        lineage: Mapping[str, int] | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> int:
        """Replace every row whose `column` is one of `values` with `frame`, in one commit, whatever
        partition the rows are in; rows with other values stay. With no values, nothing is
        replaced and the commit records only `lineage` and `properties`. Returns the new version.

        Only the files whose statistics say they may hold such rows are read and rewritten, so the
        cost follows the rows replaced, not the size of the table. When no file may hold them (a
        new week), nothing is read: the rows are appended by the lake's own writer, and if another
        writer committed such rows in between, `LakeError` says so (run the step again: that
        replace then removes both writers' rows).
        """
        if not values:
            return self._write(table, frame, lineage, properties, mode="append", partition_by=partition_by)
        existing = self._open(table)
        if existing is None:
            raise LakeError(f"replace_where on {self.table_uri(table)}: the table does not exist yet; write it whole first")
        if not _files_may_hold(existing, column, values):
            # No file's statistics admit any of these values (a new week): nothing to remove, so the
            # replace is an append, through the fast writer rather than deltalake's predicate writer.
            version = self._write(table, frame, lineage, properties, mode="append", partition_by=partition_by)
            self._refuse_concurrent_rows(table, existing.version(), version, column, values)
            return version
        # The literals take the column's own type: deltalake cannot compare an Int32 column with Int64 statistics bounds.
        sql_type = _SQL_TYPES.get(pa.field(existing.schema().to_arrow().field(column)).type)
        literals = [_sql_literal(value) for value in sorted(set(values))]
        if sql_type:
            literals = [f"CAST({literal} AS {sql_type})" for literal in literals]
        predicate = f"{column} IN ({', '.join(literals)})"
        return self._write(table, frame, lineage, properties, mode="overwrite", partition_by=partition_by, predicate=predicate)

    def _refuse_concurrent_rows(self, table: str, read: int, written: int, column: str, values: Sequence[object]) -> None:
        """An append that stood in for a replace is only right if nobody wrote such rows meanwhile."""
        if written == read + 1:
            return
        before = self._open(table, written - 1)
        if before is not None and _files_may_hold(before, column, values):
            raise LakeError(
                f"another writer added rows where {column} is one of {sorted(set(values))} to {self.table_uri(table)} while "
                f"version {written} was being written: run this step again (its replace then removes both writers' rows)"
            )

    def overwrite_table(
        self,
        table: str,
        frame: Frames,
        partition_by: Sequence[str] | None = None,
        lineage: Mapping[str, int] | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> int:
        """Replace the whole table (its schema too) in one commit; returns the new version."""
        return self._write(table, frame, lineage, properties, mode="overwrite", partition_by=partition_by)

    def append(self, table: str, frame: pl.DataFrame, partition_by: Sequence[str] | None = None) -> int:
        return self._write(table, frame, None, None, mode="append", partition_by=partition_by)

    def lineage(self, table: str, version: int) -> dict[str, int]:
        """The source-table versions the commit `version` of `table` recorded ({} when none)."""
        return json.loads(self._commit_info(table, version).get(_LINEAGE) or "{}")

    def commits(self, table: str, limit: int = 200) -> Iterator[Commit]:
        """The table's commits, newest first, with the lineage and properties each recorded."""
        latest = self.table_version(table)
        if latest is None:
            return
        for version in range(latest, max(latest - limit, -1), -1):
            info = self._commit_info(table, version)
            lineage, properties = json.loads(info.get(_LINEAGE) or "{}"), json.loads(info.get(_PROPERTIES) or "{}")
            yield Commit(version, lineage, properties, info.get("operation", ""))

    def _open(self, table: str, version: int | None = None) -> DeltaTable | None:
        """The table at `version` (default: the latest), or None when it was never written.

        Opening a Delta table costs a log listing and replay (4-7 ms locally, round trips on S3),
        and a weekly run asked for the same few tables some fifty times. So each thread keeps one
        handle per table that it brings up to date incrementally (reading only new log entries),
        and the lake keeps the handles pinned at a version, which never change once returned.
        """
        options = self.storage_options()
        key = (table, tuple(sorted((options or {}).items())))
        if version is None:
            version = self._latest_version(table)
            if version is None:
                return None
        handles = self._handles()
        with handles.guard:
            pinned = handles.pinned.pop((key, version), None)
        if pinned is None:
            try:
                pinned = DeltaTable(self.table_uri(table), version=version, storage_options=options)
            except TableNotFoundError:
                return None
        with handles.guard:
            handles.pinned[(key, version)] = pinned  # most recently used last
            while len(handles.pinned) > _PINNED_HANDLES:
                handles.pinned.pop(next(iter(handles.pinned)))
        return pinned

    def _latest_version(self, table: str) -> int | None:
        options = self.storage_options()
        key = (table, tuple(sorted((options or {}).items())))
        trackers = self._handles().trackers.__dict__
        tracker = trackers.get(key)
        try:
            if tracker is None:
                tracker = trackers[key] = DeltaTable(self.table_uri(table), storage_options=options)
            else:
                tracker.update_incremental()
        except TableNotFoundError:
            trackers.pop(key, None)
            return None
        return tracker.version()

    def _handles(self) -> _Handles:
        handles = self.__dict__.get("_delta_handles")
        if handles is None:
            handles = self.__dict__.setdefault("_delta_handles", _Handles())
        return handles

    def _write(
        self,
        table: str,
        frame: Frames,
        lineage: Mapping[str, int] | None,
        properties: Mapping[str, str] | None,
        *,
        mode: str,
        partition_by: Sequence[str] | None = None,
        replace: Sequence[Mapping[str, object]] | None = None,
        predicate: str | None = None,
    ) -> int:
        token = uuid.uuid4().hex
        metadata = {_COMMIT_TOKEN: token}
        if lineage:
            metadata[_LINEAGE] = json.dumps(dict(lineage), sort_keys=True)
        if properties:
            metadata[_PROPERTIES] = json.dumps(dict(properties), sort_keys=True)
        commit = CommitProperties(custom_metadata=metadata)
        frames = [frame] if isinstance(frame, pl.DataFrame) else frame
        try:
            if predicate is not None and replace is None:
                raise delta.UnsupportedReplace(f"replace the rows where {predicate}")
            delta.write(self, table, frames, partition_by or (), mode, replace, commit)
        except delta.UnsupportedReplace:
            # Some partitions of a table partitioned by two columns (a one-partition run from the
            # UI): deltalake's own writer, which checks every row against the predicate.
            write_deltalake(
                self.table_uri(table), _record_batches(frames), partition_by=list(partition_by or ()),
                mode="overwrite", predicate=predicate, storage_options=self.storage_options(),
                commit_properties=commit, writer_properties=_WRITER_PROPERTIES,
            )
        return self._version_of_commit(table, token)

    def _version_of_commit(self, table: str, token: str) -> int:
        """Concurrent writers to other partitions may commit right after us: find our own commit."""
        latest = self.table_version(table)
        for version in range(latest, max(latest - 100, -1), -1):
            if self._commit_info(table, version).get(_COMMIT_TOKEN) == token:
                return version
        raise LakeError(f"the commit just written to {self.table_uri(table)} is not among its last 100 versions")

    def _commit_info(self, table: str, version: int) -> dict:
        """The commitInfo action of one commit, read from the Delta log as a plain object.

        (Read through the object operations rather than DeltaTable.history(), which lists the
        whole log and blocks other Python threads while it waits on the network.)
        """
        key = f"{table}/_delta_log/{version:020d}.json"
        if not self.exists(key):
            return {}
        for line in self.read_bytes(key).splitlines():
            action = json.loads(line) if line.strip() else {}
            if "commitInfo" in action:
                return action["commitInfo"]
        return {}

    # -- objects ----------------------------------------------------------------------------

    @abstractmethod
    def uri_of(self, key: str) -> str:
        """The absolute address of `key` (a path, or s3://bucket/prefix/key)."""

    @abstractmethod
    def list_objects(self, prefix: str) -> list[StoredObject]:
        """Objects directly or indirectly under `prefix/`, sorted by key."""

    @abstractmethod
    def stat(self, key: str) -> StoredObject | None: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def read_versioned(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and the fingerprint of exactly those bytes (sha256 / the ETag served with them)."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write atomically: a reader sees the old object or the new one, never half of it."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def fingerprint(self, stored: StoredObject) -> str:
        """A content version of the object: sha256 on a disk, the ETag on S3."""

    @abstractmethod
    def upload_file(self, path: Path, key: str) -> None: ...

    @abstractmethod
    def download_file(self, key: str, path: Path) -> None: ...

    @abstractmethod
    def holds_copy_of(self, path: Path, key: str) -> bool:
        """True when `key` exists with exactly the bytes of the local file `path`."""

    @abstractmethod
    def lock(self, key: str, timeout: float = 60.0, lease_seconds: float = 120.0) -> contextlib.AbstractContextManager[None]:
        """Hold the lock named by `key` (one holder across processes and machines) for a `with` block.

        Raises `LockBusyError` after `timeout` seconds. A holder that died stops blocking others
        after `lease_seconds` where the backend cannot see that it died (S3); a live holder keeps
        its lease renewed however long it holds it. Raises `LockLostError` on release when the
        lock was taken over meanwhile (the holder stalled for longer than the lease).
        """

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def copy(self, source: str, target: str) -> None:
        self.write_bytes(target, self.read_bytes(source))

    def read_json(self, key: str) -> dict | None:
        return json.loads(self.read_bytes(key)) if self.exists(key) else None

    def write_json(self, key: str, payload: Mapping) -> None:
        self.write_bytes(key, (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode())

    def upload_directory(self, directory: Path, prefix: str) -> list[str]:
        keys = []
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(directory).as_posix()}"
            self.upload_file(path, key)
            keys.append(key)
        return keys

    @contextlib.contextmanager
    def local_directory(self, prefix: str) -> Iterator[Path]:
        """The objects under `prefix` as a local directory (downloaded if the lake is remote)."""
        with tempfile.TemporaryDirectory(prefix="retail-lake-") as scratch:
            root = Path(scratch)
            for stored in self.list_objects(prefix):
                self.download_file(stored.key, root / stored.key[len(prefix) + 1 :])
            yield root

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


def _record_batches(frames: Iterable[pl.DataFrame]) -> pa.RecordBatchReader:
    """Frames as one Arrow stream; the first frame's schema (it may have no rows) is the stream's."""
    iterator = iter(frames)
    first = next(iterator).to_arrow()

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first.to_batches()
        for frame in iterator:
            yield from frame.to_arrow().cast(first.schema).to_batches()

    return pa.RecordBatchReader.from_batches(first.schema, batches())


def _bounds(actions: pl.DataFrame, column: str) -> list[pl.Expr]:
    low, high = f"min.{column}", f"max.{column}"
    if low in actions.columns and high in actions.columns:
        return [pl.col(low).alias("low"), pl.col(high).alias("high")]
    return [pl.lit(None).alias("low"), pl.lit(None).alias("high")]


def _may_hold_any(values: list[object]) -> pl.Expr:
    """A file may hold one of `values` unless its statistics' bounds exclude them all."""
    unknown = pl.col("low").is_null() | pl.col("high").is_null()
    return unknown | pl.any_horizontal(*(pl.lit(value).is_between(pl.col("low"), pl.col("high")) for value in values))


def _files_may_hold(delta: DeltaTable, column: str, values: Sequence[object]) -> bool:
    """Whether any data file of `delta` may hold a row whose `column` is one of `values`, by the
    min/max statistics in its log: a file with rows but no statistics for the column may hold anything."""
    actions = pl.DataFrame(delta.get_add_actions(flatten=True))  # polars: pyarrow's conversion would import pandas
    low, high = f"min.{column}", f"max.{column}"
    if actions.height == 0:
        return False
    if low not in actions.columns or high not in actions.columns:
        return True
    wanted = sorted(set(values))
    for rows, first, last in actions.select("num_records", low, high).iter_rows():
        if rows == 0:
            continue
        if first is None or last is None or any(first <= value <= last for value in wanted):
            return True
    return False


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sql_literal(value: object) -> str:
    if isinstance(value, bool) or value is None:
        raise LakeError(f"partition value {value!r} cannot be used in a predicate")
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
