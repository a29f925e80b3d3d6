"""Dagster's SQLite event log, with a step's materializations written in one transaction.

A silver or gold step over every store_region x basket_type partition (48 on the sample data)
ends with one materialization per partition, which `DAGSTER_EVENT_BATCH_SIZE` hands to the
event log as one batch (retail_assets/event_volume.py). Dagster's PostgreSQL storage inserts
such a batch in one statement; its SQLite storage, what `dagster dev` and `retail-mlops
materialize` use, stores it event by event, and each event opens the run's database, inserts,
commits and closes it, then does the same again in the cross-run index database with the
event's tags and the asset's latest materialization (a landing's 165 events made 665 SQLite
connections and 489 commits, profiled). This storage writes a batch of materializations in two
transactions (one per database), as the PostgreSQL storage does, and stores every other event
exactly as Dagster does. What the UI and sensors read is unchanged: the same rows, one
materialization per partition, in the same tables.

Use it from a Dagster home's `dagster.yaml` (the CLI and `make ui` write this for a new home;
README, "The lake"):

    event_log_storage:
      module: retail_assets.event_store
      class: BatchingSqliteEventLogStorage
      config:
        base_dir: /abs/path/to/dagster_home/history/runs

`base_dir` is where Dagster's own SQLite storage keeps the event log, so an existing home keeps
its history when it switches.

It also spends less per call than Dagster's, which builds a new engine and connection for every
read and write (a landing's two runs made about 500):
- the index database's connection stays open. Closing the last connection to a database in WAL
  mode checkpoints it (two fsyncs), so each index write cost a few milliseconds instead of a few
  hundredths (`bench/sqlite_commits.py`). Its commits use `synchronous=NORMAL`, SQLite's
  recommended setting for WAL: a crash of the process loses nothing, a power cut may lose the
  last commits before the next checkpoint, the database is never corrupted.
- a run's own database is still opened and closed per call: the webserver's live run log
  follows changes to that file, which is the checkpoint the close makes.
- a new run's database is a copy of one Dagster's own `_initdb` made (schema, WAL mode, alembic
  stamp), kept next to the runs' databases, instead of alembic setting up every run's anew.
- `has_table` is remembered once a table exists.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import sqlalchemy as sa
from dagster import EventLogEntry
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS
from dagster._core.storage.event_log import SqlEventLogStorageTable, SqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster.version import __version__ as dagster_version
from sqlalchemy.pool import NullPool, QueuePool

RUN_ENGINES_KEPT = 16  # a run's steps write its database for minutes; older runs are rarely touched again


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage that writes a batch of one run's asset events in one transaction per database."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        self._engines: dict[str, sa.Engine] = {}  # before Dagster's __init__, which may reindex through _connect
        self._engines_pid = os.getpid()
        self._tables_present: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> BatchingSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)  # Dagster's builds its own class, not cls

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        """Dagster's `_connect` (one transaction under the storage's lock), on a kept engine."""
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                if shard == INDEX_SHARD_NAME or not self._run_database_ready(Path(self.path_for_shard(shard))):
                    self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Dagster's answer, remembered once a table exists (tables are added by upgrades, never
        dropped): Dagster asks before every dynamic-partition lookup and every asset event's tags,
        and each answer opened a new engine on the index (60 a landing)."""
        if table_name not in self._tables_present and super().has_table(table_name):
            self._tables_present.add(table_name)
        return table_name in self._tables_present

    def _engine(self, shard: str) -> sa.Engine:
        if self._engines_pid != os.getpid():  # a forked child opens its own connections, never its parent's
            self._engines, self._engines_pid = {}, os.getpid()
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = _sqlite_engine(self.conn_string_for_shard(shard), keep_connection=shard == INDEX_SHARD_NAME)
        self._engines[shard] = engine  # last used last: the oldest run's engine goes first
        if len(self._engines) > RUN_ENGINES_KEPT + 1:
            oldest = next(name for name in self._engines if name != INDEX_SHARD_NAME)
            self._engines.pop(oldest).dispose()
        return engine

    def _run_database_ready(self, path: Path) -> bool:
        """A run's database is ready when Dagster stamped its schema; a new one is a copy of a
        database Dagster's own `_initdb` made once (its schema, WAL mode and alembic stamp: about a
        quarter of a second per run, mostly alembic loading its migration scripts)."""
        if path.exists():
            return _stamped(path)
        template = Path(self._base_dir) / f"run-database-template-dagster-{dagster_version}.sqlite"
        if not template.exists() and not self._make_template(template):
            return False
        copy = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(template, copy)
            os.link(copy, path)  # atomic, and never over a database another process created meanwhile
        except OSError:
            return False  # Dagster's _initdb takes it from here, as for any database it did not create
        finally:
            copy.unlink(missing_ok=True)
        return True

    def _make_template(self, template: Path) -> bool:
        draft = template.with_name(f".{template.name}.{os.getpid()}.tmp")
        engine = sa.create_engine(f"sqlite:///{draft}", poolclass=NullPool)
        try:
            self._initdb(engine)
            engine.dispose()
            if Path(f"{draft}-wal").exists():  # not checkpointed into the file: a copy would miss the schema
                return False
            os.replace(draft, template)
            return True
        except (OSError, sa.exc.SQLAlchemyError, sqlite3.Error):
            return False  # no template: Dagster's _initdb sets up each run's database, as it always did
        finally:
            engine.dispose()
            for leftover in (draft, Path(f"{draft}-wal"), Path(f"{draft}-shm")):
                leftover.unlink(missing_ok=True)

    def dispose(self) -> None:
        super().dispose()
        for engine in self._engines.values():
            engine.dispose()
        self._engines = {}

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """What Dagster's SQLite `store_event` does for each event, with the rows of the whole batch
        in one transaction per database (asset check events keep their own, as Dagster has them)."""
        if not _one_run_of_asset_events(events):
            super().store_event_batch(events)  # Dagster's: event by event
            return
        rows = [self._event_to_row(event) for event in events]  # each event serialized once, for both databases
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert().values(rows))
        assets = [(event, row) for event, row in zip(events, rows) if event.dagster_event_type in ASSET_EVENTS]
        if assets:
            with self.index_transaction() as conn:
                insert = SqlEventLogStorageTable.insert().values([row for _, row in assets])
                # One multi-row INSERT under SQLite's write lock: rowids grow in the order of the rows.
                ids = sorted(row[0] for row in conn.execute(insert.returning(SqlEventLogStorageTable.c.id)))
                self._store_asset_event_tags(conn, [event for event, _ in assets], ids)
                for event, event_id in _last_of_each_kind([event for event, _ in assets], ids):
                    self._store_asset_event(conn, event, event_id)
        for event, row in zip(events, rows):
            if event.dagster_event_type in ASSET_CHECK_EVENTS:
                with self.index_connection() as conn, db_result(conn, SqlEventLogStorageTable.insert().values(row)) as result:
                    event_id = result.inserted_primary_key[0]
                self.store_asset_check_event(event, event_id)


def _stamped(path: Path) -> bool:
    """Whether Dagster's `_initdb` has nothing to do for this database: its alembic revision is recorded."""
    try:
        with closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)) as conn:
            return conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def _sqlite_engine(url: str, keep_connection: bool) -> sa.Engine:
    """An engine on one database: the index's keeps one connection open (the storage's lock lets
    one caller use it at a time, from any thread), a run's opens and closes one per call (the close
    checkpoints the file the live log watches). Both commit with `synchronous=NORMAL` when the
    database is in WAL mode, as Dagster creates it: a run's database is still synced at each close's
    checkpoint; in other journal modes NORMAL is less safe, so they keep SQLite's FULL."""
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    if keep_connection:
        # max_overflow: Dagster's _initdb opens a second connection to inspect a new database
        engine = sa.create_engine(url, poolclass=QueuePool, pool_size=1, max_overflow=4, connect_args=connect_args)
    else:
        engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)

    @sa.event.listens_for(engine, "connect")
    def _sync_normal_in_wal(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _last_of_each_kind(events: list[EventLogEntry], ids: list[int]) -> list[tuple[EventLogEntry, int]]:
    """The asset row keeps the latest event of each type (`_store_asset_event` overwrites the same
    columns for events of one type): the last of each (asset, type), in their order, leave the row
    as storing all of them one by one would, with one serialization of the record instead of 48."""
    last = {(event.get_dagster_event().asset_key, event.dagster_event_type): index for index, event in enumerate(events)}
    return [(events[index], ids[index]) for index in sorted(last.values())]


def _one_run_of_asset_events(events: Sequence[EventLogEntry]) -> bool:
    """The batches Dagster makes (a step's materializations, a run's planned events), and nothing
    whose storing does more than this class does (run status events, logs)."""
    return (
        len(events) > 1
        and len({event.run_id for event in events}) == 1
        and all(event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS | ASSET_CHECK_EVENTS for event in events)
    )


def instance_settings(home: Path) -> str:
    """The `dagster.yaml` the CLI and `make ui` write into a new Dagster home: SQLite storage in
    `home` as Dagster's defaults have it, the event log being this one."""
    runs = (home / "history" / "runs").resolve()
    return (
        "# Dagster instance settings: SQLite storage in this directory (Dagster's defaults), with the\n"
        "# event log writing a step's materializations in one transaction (retail_assets/event_store.py).\n"
        "event_log_storage:\n"
        "  module: retail_assets.event_store\n"
        "  class: BatchingSqliteEventLogStorage\n"
        "  config:\n"
        f"    base_dir: {json.dumps(str(runs))}\n"
    )
