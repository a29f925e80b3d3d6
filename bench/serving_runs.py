"""bench/serve.py's measurements: uvicorn servers kept up side by side, short wrk runs against one
at a time, the CPU each server spent on its run (from /proc), and runs of two configurations
alternated in pairs.

Every server is pinned to CPU 0 and wrk to CPU 1. A server that captures predictions has a
shipper child process on CPU 0 too: before any timed run every capturing server's spool is
drained, so the run does not pay for another run's rows, and a capturing run is charged its own
shipping until its shipper has caught up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
LUA = """
local bodies, key, counter = {}, nil, 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  key = args[2]
end
function request()
  counter = counter + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-API-Key"] = key}, bodies[counter % #bodies + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d}\\n', summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


@dataclass(frozen=True)
class Server:
    """A running server: its base URL, its pid, and whether it captures predictions (has a spool to drain)."""

    base: str
    pid: int
    name: str
    captures: bool = False


@contextmanager
def server(name: str, command: list[str], env: dict[str, str], captures: bool = False) -> Iterator[Server]:
    """A uvicorn server pinned to CPU 0 on a free port; stopped by its pid (SIGTERM, then SIGKILL)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)], env={**os.environ, **env}, cwd=ROOT,
        start_new_session=True, preexec_fn=lambda: pin(0),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                sys.exit(f"{command} exited with code {process.returncode}")
            try:
                if httpx.post(base + "/v1/predict", content=b"{}", headers={"X-API-Key": KEY}, timeout=2).status_code == 422:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        yield Server(base, process.pid, name, captures)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)  # the API writes its queued predictions before it exits
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def pin(cpu: int) -> None:
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {cpu})


@dataclass
class Load:
    """wrk's settings, and every server that is up (the ones not timed must stay idle during a run)."""

    wrk: str
    work: Path
    seconds: int
    connections: int
    warm_up: int = 5  # the first pair's runs were the slowest in three runs of the script with 2 s
    servers: list[Server] = field(default_factory=list)
    warm: set[tuple[int, str, str]] = field(default_factory=set)

    def run(self, target: Server, path: str, bodies: str) -> dict:
        """One timed wrk run against `target`, with the server's CPU per request.

        The first run of each server, path and bodies follows a warm-up; later ones do not (a
        capturing run waits for its shipper before and after it anyway, so a warm-up would not
        keep its caches warm, and every run should start alike). The run starts once every
        capturing server's shipper has sent every row before it (so an off run does not pay for
        the shipping of the on run before it). A capturing target's shipper CPU is counted until
        it has sent the run's own rows too (the seconds that takes after the run: `catch_up_s`).
        The other servers' CPU during the run is kept as `idle_cpu_ms`."""

        def command(duration: int) -> list[str]:
            return [self.wrk, "-t1", f"-c{self.connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(self.work / "post.lua"),
                    target.base + path, "--", str(self.work / bodies), KEY]  # fmt: skip

        if (target.pid, path, bodies) not in self.warm:
            subprocess.run(command(self.warm_up), capture_output=True, check=True, preexec_fn=lambda: pin(1))
            self.warm.add((target.pid, path, bodies))
        for up in self.servers:
            if up.captures:
                drain_log(up.base)
                settle(up.pid)
        others = [up for up in self.servers if up.pid != target.pid]
        others_before = [cpu_seconds(up.pid, *children(up.pid)) for up in others]
        api_before, shipper_before = cpu_seconds(target.pid), cpu_seconds(*children(target.pid))
        threads_before = thread_cpu_seconds(target.pid)
        run = subprocess.run(command(self.seconds), capture_output=True, text=True, check=True, preexec_fn=lambda: pin(1))
        result = json.loads(re.search(r"WRK_JSON (\{.*\})", run.stdout)[1])
        result["load"] = os.getloadavg()[0]
        result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
        # The server's own CPU time per request does not depend on how much of its core it was given:
        # on a machine shared with other work, it says what a dedicated core would sustain. The API
        # process and its children (the log shipper) are counted apart, then together.
        requests = max(result["requests"], 1)
        result["api_cpu_us_per_request"] = (cpu_seconds(target.pid) - api_before) * 1e6 / requests
        # Of the API's CPU, its threads but the event loop's: the prediction log's writer (and the model poller, idle here).
        result["threads_cpu_us_per_request"] = (thread_cpu_seconds(target.pid) - threads_before) * 1e6 / requests
        result["shipper_during_us_per_request"] = (cpu_seconds(*children(target.pid)) - shipper_before) * 1e6 / requests
        idle = {up.name: (cpu_seconds(up.pid, *children(up.pid)) - before) * 1e3 for up, before in zip(others, others_before, strict=True)}
        result["idle_cpu_ms"], result["idle_server"] = max(((ms, name) for name, ms in idle.items()), default=(0.0, ""))
        if target.captures:
            caught_up = time.monotonic()
            drain_log(target.base)
            settle(target.pid)
            result["catch_up_s"] = time.monotonic() - caught_up
        else:
            result["catch_up_s"] = 0.0
        result["shipper_cpu_us_per_request"] = (cpu_seconds(*children(target.pid)) - shipper_before) * 1e6 / requests
        result["cpu_us_per_request"] = result["api_cpu_us_per_request"] + result["shipper_cpu_us_per_request"]
        # The share of a core the server had during the run (the shipper's catch-up after it left out).
        result["cpu_share"] = (result["api_cpu_us_per_request"] + result["shipper_during_us_per_request"]) * requests / result["duration_us"]
        result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
        return result


def paired(base: Callable[[], dict], variant: Callable[[], dict], pairs: int) -> list[dict]:
    """`pairs` pairs of runs, the base configuration and a variant back to back, the order
    alternating (base first, variant first, ...) so neither always runs first. Each pair holds
    both runs and the variant's ratios to the base: requests/s, p99, CPU per request (API and
    shipper) and the API process's CPU per request."""
    found = []
    for index in range(pairs):
        if index % 2 == 0:
            first, second = base(), variant()
            runs = {"base": first, "variant": second, "base_first": True}
        else:
            first, second = variant(), base()
            runs = {"base": second, "variant": first, "base_first": False}
        a, b = runs["base"], runs["variant"]
        runs["ratio"] = {
            "rps": b["rps"] / a["rps"],
            "p99": b["p99"] / max(a["p99"], 1),
            "cpu": b["cpu_us_per_request"] / a["cpu_us_per_request"],
            "api_cpu": b["api_cpu_us_per_request"] / a["api_cpu_us_per_request"],
        }
        runs["load"] = second["load"]
        found.append(runs)
    return found


def median_ratios(pairs: Sequence[dict]) -> dict[str, float]:
    """The median over the pairs of each ratio: the figure checked against a target."""
    return {key: statistics.median(pair["ratio"][key] for pair in pairs) for key in pairs[0]["ratio"]}


def medians(runs: Sequence[dict]) -> dict:
    """A configuration's figures over its runs: each figure's median, errors and requests summed."""
    figures = {key: statistics.median(run[key] for run in runs) for key, value in runs[0].items() if isinstance(value, (int, float))}
    figures["errors"] = sum(run["errors"] for run in runs)
    figures["requests"] = sum(run["requests"] for run in runs)
    return figures


def side(pairs: Sequence[dict], name: str) -> list[dict]:
    """Every run of one side ("base" or "variant") of the pairs."""
    return [pair[name] for pair in pairs]


def cpu_seconds(*pids: int) -> float:
    """User + system CPU time of these processes (all their threads), from /proc."""
    return sum(_stat_cpu_seconds(Path(f"/proc/{process}/stat")) for process in pids)


def thread_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process's threads other than its main one (the event loop)."""
    tasks = [task for task in Path(f"/proc/{pid}/task").glob("*") if task.name != str(pid)]
    return sum(_stat_cpu_seconds(task / "stat") for task in tasks)


def _stat_cpu_seconds(stat: Path) -> float:
    """utime + stime of one /proc stat file; 0 for a process or thread that has gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ValueError):
            continue
    return found + [grandchild for child in found for grandchild in children(child)]


def _log_rows(metrics: str) -> dict[str, float]:
    rows = {"captured": 0.0, "written": 0.0, "dropped": 0.0, "spool_bytes": 0.0}
    for line in metrics.splitlines():
        for name in rows:
            if line.startswith((f"retail_api_prediction_log_rows_{name}_total", f"retail_api_prediction_log_{name} ")):
                rows[name] += float(line.rsplit(" ", 1)[1])
    return rows


def drain_log(base: str, limit: float = 120.0) -> dict[str, float]:
    """The prediction log's counters once the shipper has caught up (or after `limit` seconds)."""
    started = time.monotonic()
    while True:
        rows = _log_rows(httpx.get(base + "/metrics", timeout=10).text)
        if rows["written"] + rows["dropped"] >= rows["captured"] or time.monotonic() - started > limit:
            rows["catch_up_s"] = time.monotonic() - started
            return rows
        time.sleep(0.2)


def settle(pid: int, limit: float = 30.0) -> None:
    """Wait until the server's children (its shipper) have used no CPU for 0.3 s: once its rows are
    counted written, the shipper may still be finishing its pass (or `limit` seconds)."""
    started, last = time.monotonic(), cpu_seconds(*children(pid))
    while time.monotonic() - started < limit:
        time.sleep(0.3)
        now = cpu_seconds(*children(pid))
        if now == last:
            return
        last = now
