"""Dagster as the Helm chart deploys it, as processes on this machine: a code server, the webserver
and the daemon, each its own process, sharing one instance whose storage is PostgreSQL.

`instance_yaml` translates deploy/dagster/values.yaml into the dagster.yaml the chart renders
(its configmap-instance template): PostgreSQL run/event/schedule storage, the queued run
coordinator with the same concurrency, run monitoring, sensor and schedule threads, S3 compute
logs. Where values.yaml leaves a key to the chart, the chart's default for 1.13 is used
(CHART_DEFAULTS). Three settings differ, because what they name does not exist here:
- the run launcher: K8sRunLauncher starts one Kubernetes Job per run; here the DefaultRunLauncher
  asks the code server to start the run as a process (no Kubernetes runs here);
- `sslmode: require`: RDS enforces TLS, the embedded server has no certificate;
- telemetry is off (the tests reach no network).
One more is only a cadence: the daemon reads the run queue every second (DEQUEUE_INTERVAL_SECONDS)
instead of Dagster's 5 s, so a test does not wait up to 5 s for each of its runs to start; the
coordinator and its limits are the chart's. The sensors' cadence is the code location's
(RETAIL_SENSOR_INTERVAL_SECONDS, in the environment a test passes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.helpers.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "deploy" / "dagster" / "values.yaml"
BIN = Path(sys.executable).parent
PASSWORD_VARIABLE = "DAGSTER_PG_PASSWORD"  # the chart reads the password from this variable
DEQUEUE_INTERVAL_SECONDS = 1

# The chart's defaults (dagster/dagster 1.13) for the instance keys values.yaml does not set.
CHART_DEFAULTS = {
    "runMonitoring": {"startTimeoutSeconds": 300, "pollIntervalSeconds": 120, "maxResumeRunAttempts": 0},
    "runRetries": {"enabled": True, "maxRetries": 0},
    "sensors": {"useThreads": True, "numWorkers": 4},
    "schedules": {"useThreads": True, "numWorkers": 4},
    "retention": {"enabled": False},
}


def chart_values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def location_name(values: dict | None = None) -> str:
    return (values or chart_values())["dagster-user-deployments"]["deployments"][0]["name"]


def instance_yaml(postgres: PostgresServer, database: str, compute_logs_bucket: str, s3_endpoint: str | None) -> dict:
    """The dagster.yaml the chart renders from values.yaml, pointed at this machine's servers."""
    values = chart_values()
    daemon = values["dagsterDaemon"]
    postgres_db = {
        "username": values["postgresql"]["postgresqlUsername"],
        "password": {"env": PASSWORD_VARIABLE},
        "hostname": postgres.host,
        "db_name": database,
        "port": postgres.port,
        "params": {k: v for k, v in values["postgresql"].get("postgresqlParams", {}).items() if k != "sslmode"},
    }
    if values["postgresql"].get("postgresqlScheme"):
        postgres_db["scheme"] = values["postgresql"]["postgresqlScheme"]
    storage = {"config": {"postgres_db": postgres_db}}
    coordinator = daemon["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator", "values.yaml changed its run coordinator: translate it here too"
    monitoring = CHART_DEFAULTS["runMonitoring"] | daemon["runMonitoring"]
    retries = CHART_DEFAULTS["runRetries"] | daemon.get("runRetries", {})
    sensors = CHART_DEFAULTS["sensors"] | daemon.get("sensors", {})
    schedules = CHART_DEFAULTS["schedules"] | daemon.get("schedules", {})
    retention = CHART_DEFAULTS["retention"] | values.get("retention", {})
    s3_logs = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    instance = {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", **storage},
        "event_log_storage": {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage", **storage},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage", **storage},
        "run_launcher": {"module": "dagster._core.launcher", "class": "DefaultRunLauncher"},
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": coordinator["config"]["queuedRunCoordinator"]["maxConcurrentRuns"],
                "dequeue_interval_seconds": DEQUEUE_INTERVAL_SECONDS,
            },
        },
        "compute_logs": {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": "S3ComputeLogManager",
            "config": {"bucket": compute_logs_bucket, "prefix": s3_logs["prefix"]} | ({"endpoint_url": s3_endpoint} if s3_endpoint else {}),
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
        },
        "run_retries": {"enabled": retries["enabled"], "max_retries": retries["maxRetries"]},
        "sensors": {"use_threads": sensors["useThreads"], "num_workers": sensors["numWorkers"]},
        "schedules": {"use_threads": schedules["useThreads"], "num_workers": schedules["numWorkers"]},
        "telemetry": {"enabled": False},
    }
    if retention["enabled"]:
        instance["retention"] = {kind: {"purge_after_days": retention[kind]["purgeAfterDays"]} for kind in ("sensor", "schedule") if kind in retention}
    return instance


LAUNCH_RUN = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""
RUN_STATUS = "query Status($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"


@dataclass
class DagsterPlatform:
    """The running processes and how to reach them."""

    home: Path
    url: str
    postgres: PostgresServer
    database: str
    location: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
        reply = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout)
        body = reply.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def launch_run(self, job: str = "__ASSET_JOB", assets: list[str] | None = None, tags: dict[str, str] | None = None,
                   run_config: dict | None = None) -> str:
        """What the UI's Materialize / Launch button sends; the run is queued and the daemon's coordinator starts it."""
        selector = {"repositoryLocationName": self.location, "repositoryName": "__repository__", "jobName": job}
        if assets:
            selector["assetSelection"] = [{"path": [name]} for name in assets]
        data = self.graphql(LAUNCH_RUN, {"executionParams": {
            "selector": selector,
            "runConfigData": run_config or {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }})
        result = data["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise AssertionError(f"launchRun {job}: {result}")
        return result["run"]["runId"]

    def run_status(self, run_id: str) -> str:
        return self.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]

    def wait_for_run(self, run_id: str, timeout: float = 120) -> str:
        finished = {"SUCCESS", "FAILURE", "CANCELED"}
        _wait(lambda: self.run_status(run_id) in finished, timeout, f"run {run_id}", self)
        return self.run_status(run_id)

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for name, path in self.logs.items():
            text = path.read_text(errors="replace").splitlines() if path.exists() else []
            parts.append(f"--- {name} ({path}) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"the {name} exited with code {process.returncode}\n{self.log_tails()}")


def start_platform(
    workdir: Path, postgres: PostgresServer, environment: dict[str, str], compute_logs_bucket: str, s3_endpoint: str | None,
    timeout: float = 120,
) -> DagsterPlatform:
    """Code server first (the others load definitions from it), then the webserver and the daemon."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True)
    database = postgres.create_database(owner=chart_values()["postgresql"]["postgresqlUsername"])
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml(postgres, database, compute_logs_bucket, s3_endpoint), sort_keys=False))
    location = location_name()
    grpc_port, web_port = _free_port(), _free_port()
    (home / "workspace.yaml").write_text(yaml.safe_dump(
        {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": grpc_port, "location_name": location}}]}
    ))
    env = {**os.environ, **environment, "DAGSTER_HOME": str(home), PASSWORD_VARIABLE: "unused-with-trust-auth"}
    platform = DagsterPlatform(home, f"http://127.0.0.1:{web_port}", postgres, database, location)
    code_server_args = chart_values()["dagster-user-deployments"]["deployments"][0]["codeServerArgs"]
    commands = {
        "code server": [str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(grpc_port), *code_server_args],
        "webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", str(home / "workspace.yaml")],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")],
    }
    try:
        for name, command in commands.items():
            platform.logs[name] = workdir / f"{name.replace(' ', '-')}.log"
            with platform.logs[name].open("w") as log:
                platform.processes[name] = subprocess.Popen(
                    command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
                )
            if name == "code server":
                _wait(lambda: _grpc_healthy(grpc_port, env), timeout, "the code server", platform)
        _wait(lambda: _location_loaded(platform), timeout, "the webserver loading the code location", platform)
    except BaseException:
        stop_platform(platform)
        raise
    return platform


def stop_platform(platform: DagsterPlatform, timeout: float = 15) -> None:
    """SIGTERM each process group, then SIGKILL what is left; the daemon first so it launches nothing more."""
    import signal

    for name in ("daemon", "webserver", "code server"):
        process = platform.processes.get(name)
        if process is None or process.poll() is not None:
            continue
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break


def _grpc_healthy(port: int, env: dict) -> bool:
    done = subprocess.run([str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)], env=env, capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def _location_loaded(platform: DagsterPlatform) -> bool:
    data = platform.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }")
    entries = data["workspaceOrError"]["locationEntries"]
    return any(e["name"] == platform.location and e["loadStatus"] == "LOADED" for e in entries)


def _wait(check, timeout: float, what: str, platform: DagsterPlatform) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        platform.check_alive()
        try:
            if check():
                return
        except (httpx.HTTPError, ValueError, AssertionError) as error:  # not up yet
            last = error
        time.sleep(0.5)
    raise AssertionError(f"{what}: not ready after {timeout}s (last error: {last})\n{platform.log_tails()}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
