"""What one small event write costs a SQLite database in WAL mode, by how the connection is held:
Dagster's SQLite event log (a new engine and connection per write, closed after: the close
checkpoints the WAL into the database), and the project's (retail_assets/event_store.py: the
index database's connection kept open with synchronous=NORMAL; a run's database still opened and
closed per write, with synchronous=NORMAL). Each pattern writes the same rows into its own new
database in the same process; the first is the baseline of the ratios.

    .venv/bin/python bench/sqlite_commits.py [--writes 400]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

ROW = "x" * 2000  # about a step event's serialized size


def _database(path: Path) -> None:
    with sa.create_engine(f"sqlite:///{path}", poolclass=NullPool).begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # as Dagster's _initdb makes every event log database
        conn.exec_driver_sql("CREATE TABLE event_logs (id INTEGER PRIMARY KEY, event TEXT)")


def _normal(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _sync(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def new_engine_per_write(path: Path, writes: int) -> None:
    for _ in range(writes):
        engine = sa.create_engine(f"sqlite:///{path}", poolclass=NullPool)
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("INSERT INTO event_logs (event) VALUES (?)", (ROW,))
        engine.dispose()


def kept_engine_closed_per_write_normal(path: Path, writes: int) -> None:
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=NullPool)
    _normal(engine)
    for _ in range(writes):
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("INSERT INTO event_logs (event) VALUES (?)", (ROW,))


def kept_connection(path: Path, writes: int, normal: bool) -> None:
    engine = sa.create_engine(f"sqlite:///{path}", pool_size=1)
    if normal:
        _normal(engine)
    for _ in range(writes):
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("INSERT INTO event_logs (event) VALUES (?)", (ROW,))
    engine.dispose()


PATTERNS = {
    "Dagster's: new engine and connection per write (FULL)": new_engine_per_write,
    "a run's database here: kept engine, connection closed per write (NORMAL)": kept_engine_closed_per_write_normal,
    "kept connection, FULL": lambda path, writes: kept_connection(path, writes, normal=False),
    "the index here: kept connection, NORMAL": lambda path, writes: kept_connection(path, writes, normal=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=400)
    args = parser.parse_args()
    print(f"1-min load average at the start: {os.getloadavg()[0]:.1f}")
    baseline = None
    with tempfile.TemporaryDirectory(prefix="sqlite-commits-") as scratch:
        for index, (label, write) in enumerate(PATTERNS.items()):
            path = Path(scratch) / f"pattern{index}.db"
            _database(path)
            started = time.perf_counter()
            write(path, args.writes)
            per_write = (time.perf_counter() - started) / args.writes
            baseline = baseline or per_write
            print(f"{label:75s} {per_write * 1000:7.3f} ms a write   {baseline / per_write:6.1f}x faster than Dagster's")
    print(f"1-min load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
