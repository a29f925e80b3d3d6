"""Servers a test starts: a free port, waiting until one answers, and stopping it by its pid
(the same stop the local cluster gives its pods)."""

from __future__ import annotations

import socket
import subprocess
import time

from retail_assets.release.local_cluster.kubelet import stop_process


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
