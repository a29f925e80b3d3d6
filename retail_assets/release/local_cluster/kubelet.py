"""The kubelet of the local cluster: each pod's container is a real process on this machine.

A pod's container runs the image's command (for the API image, `deploy/docker/api.Dockerfile`'s
CMD) from this checkout, with exactly the environment its pod spec gives it: `envFrom` ConfigMaps,
`env` values, `secretKeyRef` and `fieldRef`. What must differ on a laptop is translated and
nothing else: the container port becomes a free port on 127.0.0.1, the pod's `/tmp` emptyDir a
directory of its own, and `extra_env` adds what EKS injects into every pod (IRSA's credentials;
here the address of moto's server). The probes are the pod spec's, their periods scaled by
`time_scale` (their time budgets are kept). A container that exits is restarted with Kubernetes'
back-off (10 s doubling to 5 min, scaled), showing `CrashLoopBackOff` meanwhile; an image that is
not in `images` cannot be pulled (`ErrImagePull`, then `ImagePullBackOff`).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from retail_assets.release.local_cluster.objects import Store, now_iso

MAX_BACKOFF_SECONDS = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the process group (its own session), SIGKILL after `timeout`, by pid only."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=timeout)


class ContainerConfigError(Exception):
    """The pod spec names a ConfigMap or Secret (key) that does not exist."""


def container_env(store: Store, pod: dict, container: dict) -> dict[str, str]:
    """The environment Kubernetes gives the container: envFrom first, then env (which wins)."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        found = store.find(kind, namespace, ref["name"])
        if found is None:
            if ref.get("optional"):
                continue
            raise ContainerConfigError(f'{kind.lower()} "{ref["name"]}" not found')
        data = found.get("data") or {}
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        env.update({source.get("prefix", "") + k: v for k, v in data.items()})
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
            continue
        source = variable.get("valueFrom") or {}
        if "secretKeyRef" in source or "configMapKeyRef" in source:
            kind, ref = ("Secret", source["secretKeyRef"]) if "secretKeyRef" in source else ("ConfigMap", source["configMapKeyRef"])
            found = store.find(kind, namespace, ref["name"])
            data = (found or {}).get("data") or {}
            if ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'couldn\'t find key {ref["key"]} in {kind} {namespace}/{ref["name"]}')
            env[variable["name"]] = base64.b64decode(data[ref["key"]]).decode() if kind == "Secret" else data[ref["key"]]
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            env[variable["name"]] = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": namespace,
                                     "status.podIP": "127.0.0.1"}.get(path, "")
    return env


class PodRuntime:
    """One pod: its container process, its probes, its restarts; writes the pod's status into the store."""

    def __init__(self, store: Store, pod: dict, command: Callable[[int], list[str]] | None, base_env: dict[str, str], workdir: Path, time_scale: float,
                 on_change: Callable[[], None]) -> None:
        self.store, self.pod, self.base_env = store, pod, base_env
        self.workdir, self.time_scale, self.on_change = workdir, time_scale, on_change
        self.spec = pod["spec"]["containers"][0]
        self.port = free_port()
        self.command = command(self.port) if command is not None else None  # None: the image cannot be pulled
        self.process: subprocess.Popen | None = None
        self.processes: list[subprocess.Popen] = []  # every container process it started, restarts included
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pod {pod['metadata']['name']}", daemon=True)
        pod["metadata"]["annotations"]["local-cluster/port"] = str(self.port)
        self._set(waiting=("ContainerCreating", ""), ready=False)

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace_seconds: float) -> None:
        self._stopping.set()
        self._thread.join(timeout=grace_seconds + 15)
        if self.process is not None:
            stop_process(self.process, grace_seconds)

    @property
    def name(self) -> str:
        return self.pod["metadata"]["name"]

    # -- the container's life ------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 10.0
        while not self._stopping.is_set():
            try:
                env = container_env(self.store, self.pod, self.spec)
            except ContainerConfigError as error:
                self._set(waiting=("CreateContainerConfigError", str(error)), ready=False)
                self._pause(2.0)
                continue
            if self.command is None:
                self._set(waiting=("ErrImagePull", f'failed to pull image "{self.spec["image"]}": not found'), ready=False)
                self._pause(1.0)
                self._set(waiting=("ImagePullBackOff", f'Back-off pulling image "{self.spec["image"]}"'), ready=False)
                self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            exit_code = self._run_container(env)
            exit_code = 128 - exit_code if exit_code < 0 else exit_code  # killed by signal N: 128 + N, as the runtime reports
            if self._stopping.is_set():
                return
            self.restarts += 1
            message = f"back-off {backoff:g}s restarting failed container={self.spec['name']} pod={self.name}"
            self._set(waiting=("CrashLoopBackOff", message), ready=False, last_exit=exit_code)
            self._pause(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _run_container(self, env: dict[str, str]) -> int:
        tmp = self.workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        full_env = {**self.base_env, "HOME": str(self.workdir), "TMPDIR": str(tmp), **env}
        log = open(self.workdir / f"container-{self.restarts}.log", "wb")  # noqa: SIM115 - closed below
        try:
            self.process = subprocess.Popen(self.command, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.workdir, start_new_session=True)
            self.processes.append(self.process)
            self._set(running=True, ready=False)
            return self._probe_until_exit()
        finally:
            log.close()

    def _probe_until_exit(self) -> int:
        startup, liveness, readiness = (self.spec.get(k) for k in ("startupProbe", "livenessProbe", "readinessProbe"))
        started = startup is None
        failures = {"startup": 0, "liveness": 0, "readiness": 0}
        due = {"startup": 0.0, "liveness": 0.0, "readiness": 0.0}
        ready = False
        while not self._stopping.is_set():
            if self.process.poll() is not None:
                return self.process.returncode
            now = time.monotonic()
            for kind, probe in (("startup", startup), ("liveness", liveness), ("readiness", readiness)):
                if probe is None or now < due[kind] or (kind == "startup") == started:
                    continue
                period = probe.get("periodSeconds", 10) * self.time_scale
                due[kind] = now + period
                # A scaled period keeps the probe's time budget: the count of failures grows to match.
                threshold = max(1, round(probe.get("failureThreshold", 3) / self.time_scale)) if kind == "startup" else probe.get("failureThreshold", 3)
                if self._probe(probe):
                    failures[kind] = 0
                    if kind == "startup":
                        started = True
                    elif kind == "readiness" and not ready:
                        ready = True
                        self._set(running=True, ready=True)
                    continue
                failures[kind] += 1
                if kind == "readiness" and ready and failures[kind] >= threshold:
                    ready = False
                    self._set(running=True, ready=False)
                elif kind != "readiness" and failures[kind] >= threshold:
                    stop_process(self.process, self._grace())  # the kubelet kills a container that fails startup or liveness
                    return self.process.returncode
            self._stopping.wait(0.05)
        return self.process.returncode if self.process.poll() is not None else 0

    def _probe(self, probe: dict) -> bool:
        http = probe.get("httpGet")
        if http is None:
            return True  # exec and tcpSocket probes are not played: the API's are httpGet
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{http.get('path', '/')}", timeout=probe.get("timeoutSeconds", 1)) as answer:
                return 200 <= answer.status < 400
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _grace(self) -> float:
        return float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds * self.time_scale)

    def _set(self, running: bool = False, ready: bool = False, waiting: tuple[str, str] | None = None, last_exit: int | None = None) -> None:
        with self.store.lock:
            status = self.pod.setdefault("status", {})
            state = {"running": {"startedAt": now_iso()}} if running else {"waiting": {"reason": waiting[0], "message": waiting[1]}}
            container = {"name": self.spec["name"], "image": self.spec["image"], "ready": ready, "restartCount": self.restarts, "state": state}
            if last_exit is not None:
                container["lastState"] = {"terminated": {"exitCode": last_exit, "reason": "Error" if last_exit else "Completed"}}
            elif (status.get("containerStatuses") or [{}])[0].get("lastState"):
                container["lastState"] = status["containerStatuses"][0]["lastState"]
            status.update(phase="Running" if running else "Pending", podIP="127.0.0.1", containerStatuses=[container],
                          conditions=[{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now_iso()},
                                      {"type": "ContainersReady", "status": "True" if ready else "False"}])
            self.store.touch(self.pod)
        self.on_change()


def image_command(dockerfile: Path, port: int) -> list[str]:
    """The image's CMD (JSON form) as this machine runs it: uvicorn from this venv, on 127.0.0.1:`port`."""
    import json

    lines, collecting = [], False
    for line in dockerfile.read_text().splitlines():
        if line.startswith("CMD ["):
            collecting, line = True, line[len("CMD "):]
        if collecting:
            lines.append(line.rstrip("\\").strip())
            if not line.rstrip().endswith("\\"):
                break
    if not lines:
        raise ValueError(f"{dockerfile} has no CMD [...] instruction")
    command = json.loads(" ".join(lines))
    if command[0] == "uvicorn":
        command = [sys.executable, "-m", "uvicorn", *command[1:]]
    for flag, value in (("--host", "127.0.0.1"), ("--port", str(port))):
        if flag in command:
            command[command.index(flag) + 1] = value
    return command
