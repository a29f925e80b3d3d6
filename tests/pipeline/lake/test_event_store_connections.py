"""The project's SQLite event log keeps its index connection open and makes new run databases
from a template; what the webserver, the daemon and the CLI rely on still holds:
- a run's new events reach the UI's live log while the process writing them is still running;
- two processes (the CLI's run and `dagster dev`) write and read the same Dagster home at once,
  each seeing the other's materializations, none of them refused as "database is locked";
- a run's database has exactly the schema and alembic revision Dagster's own storage gives it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log import SqliteEventLogStorage

from retail_assets.event_store import BatchingSqliteEventLogStorage, instance_settings

# A second process on the same Dagster home, kept alive between commands read from stdin, as a
# run worker or the daemon is: "log RUN TEXT" stores a log line in RUN's event log,
# "materialize" runs an asset and prints the run id, "latest" prints the run id of its latest
# materialization as that process sees it.
OTHER_PROCESS = r"""
import logging, sys, time, warnings
warnings.simplefilter("ignore")
import dagster as dg
from dagster import EventLogEntry

@dg.asset
def shared_asset() -> None: ...

instance = dg.DagsterInstance.get()
print("ready", flush=True)
for line in sys.stdin:
    command, *rest = line.split()
    if command == "log":
        instance.event_log_storage.store_event(EventLogEntry(
            error_info=None, level=logging.INFO, user_message=rest[1], run_id=rest[0], timestamp=time.time(),
            step_key=None, job_name=None, dagster_event=None))
        print("stored", flush=True)
    elif command == "materialize":
        print(dg.materialize([shared_asset], instance=instance).run_id, flush=True)
    elif command == "latest":
        print(instance.get_latest_materialization_event(dg.AssetKey("shared_asset")).run_id, flush=True)
"""


@dg.asset
def shared_asset() -> None: ...


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A Dagster home as the CLI writes it (the project's event log)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + instance_settings(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def other_process(home):
    process = subprocess.Popen([sys.executable, "-c", OTHER_PROCESS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)

    def ask(command: str) -> str:
        process.stdin.write(command + "\n")
        process.stdin.flush()
        answer = process.stdout.readline().strip()
        assert answer, f"the other process answered nothing to {command!r} (exit code {process.poll()})"
        return answer

    try:
        assert process.stdout.readline().strip() == "ready"
        yield ask
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_running_runs_events_reach_the_live_log_while_its_process_runs(home, other_process):
    """The UI's live run log follows the run's database file; each event must show up while the
    writer still holds its connections, not when it exits."""
    with dg.DagsterInstance.get() as instance:
        run_id = other_process("materialize")  # an existing run's database: the UI opens a running run
        seen: list[str] = []
        arrived = threading.Event()

        def on_event(event, _cursor) -> None:
            if event.user_message.startswith("live-"):
                seen.append(event.user_message)
                arrived.set()

        instance.watch_event_logs(run_id, None, on_event)
        try:
            for number in range(3):
                arrived.clear()
                assert other_process(f"log {run_id} live-{number}") == "stored"
                assert arrived.wait(timeout=20), f"live-{number} never reached the watcher; seen so far {seen}"
        finally:
            instance.end_watch_event_logs(run_id, on_event)
        assert seen == ["live-0", "live-1", "live-2"]


def test_two_processes_write_and_read_one_home_at_once(home, other_process):
    """The CLI's runs and `dagster dev`'s daemon share a home: with connections kept open, each
    still sees the other's latest materialization and neither is locked out."""
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
        theirs = other_process("materialize")
        assert instance.get_latest_materialization_event(shared_asset.key).run_id == theirs
        ours = dg.materialize([shared_asset], instance=instance).run_id
        assert other_process("latest") == ours, "the other process's kept connection sees what this one wrote"
        theirs_again = other_process("materialize")
        assert instance.get_latest_materialization_event(shared_asset.key).run_id == theirs_again
        materialized = instance.fetch_materializations(shared_asset.key, limit=10).records
        assert [record.run_id for record in materialized] == [theirs_again, ours, theirs]


def _schema(path: Path) -> tuple[list, list]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        tables = sorted(conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchall()
    return tables, revision + mode


def test_a_new_runs_database_is_the_one_dagster_would_create(tmp_path):
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    ours = BatchingSqliteEventLogStorage(str(tmp_path / "ours"))
    try:
        for run_id in ("first-run", "second-run"):  # the first makes the template, the second is a copy of it
            for storage in (stock, ours):
                with storage.run_connection(run_id) as conn:
                    conn.exec_driver_sql("SELECT 1")
            expected = _schema(Path(stock.path_for_shard(run_id)))
            assert expected[1][-1] == ("wal",)
            assert _schema(Path(ours.path_for_shard(run_id))) == expected
        assert sorted(ours.get_all_run_ids()) == ["first-run", "second-run"], "the template is not taken for a run"
    finally:
        stock.dispose()
        ours.dispose()
