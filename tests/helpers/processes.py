"""Servers a test starts: a free port, waiting until one answers, and stopping it by its pid
(the same stop the local cluster gives its pods)."""

from __future__ import annotations

import socket
import subprocess
import time

from retail_assets.release.local_cluster.kubelet import stop_process

# How long a server a test starts may take to come up. A wait returns as soon as the server
# answers, so these are ceilings, not delays: in a full `make test` on a loaded 2-core machine
# (the suite at 28 minutes instead of 13, 40% of the CPU time waiting on the disk) the API took
# over 60 s to answer /readyz and `dagster dev` over 70 s to load the code location.
SERVER_START_SECONDS = 180
DAGSTER_DEV_START_SECONDS = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a server we started (its own session), by its pid; SIGKILL if it ignores SIGTERM."""
    stop_process(process, timeout)


def wait_until(check, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with code {process.returncode}")
        try:
            if check():
                return
        except Exception as error:  # noqa: BLE001 - a server that is not up yet refuses connections
            last_error = error
        time.sleep(0.25)
    raise AssertionError(f"{what} not ready after {timeout}s (last error: {last_error})")
