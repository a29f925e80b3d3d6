"""`LocalCluster`: a Kubernetes stand-in for this machine, whose pods are real API server processes.

A double, and only because no Kubernetes runs here (no kind, no container runtime in the tests or
on a newcomer's laptop). It plays the Kubernetes API server for the subset the EKS release uses,
over real HTTP (`api_server.py`, so `KubernetesCluster` and the official client are exercised
unchanged), the Deployment, ReplicaSet and HPA controllers (`controller.py`), the kubelet
(`kubelet.py`: each pod a `retail_api` uvicorn process started with the environment its pod spec
and ConfigMap give it) and each Service's load balancing (`service.py`: a round-robin proxy over
the ready pods). What it is not: there are no nodes, images, network policies, ingress, PDBs,
RBAC or admission; the HPA holds `minReplicas`; probe periods and back-offs are scaled by
`time_scale` (docs/deploy.md, "The local cluster").

    with LocalCluster(images={IMAGE: api_image()}, extra_env=moto_env) as cluster:
        cluster.apply(rendered_objects)          # what `kubectl apply` of deploy/k8s/render.sh's output does
        cluster.wait_for_rollout("retail", "retail-api")
        KubernetesCluster(cluster.api_client())  # the release's client; cluster.service_url("retail", "retail-api")

Every process it starts is stopped by pid (SIGTERM, then SIGKILL of its process group) in `stop()`.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from retail_assets.release.local_cluster.api_server import KubernetesApiServer
from retail_assets.release.local_cluster.controller import Controllers
from retail_assets.release.local_cluster.kubelet import PodRuntime, image_command
from retail_assets.release.local_cluster.objects import Store
from retail_assets.release.local_cluster.service import ServiceProxy
from retail_assets.release.rollout import RolloutFailed, progress

CHECKOUT = Path(__file__).resolve().parents[3]
API_DOCKERFILE = CHECKOUT / "deploy" / "docker" / "api.Dockerfile"

ImageCommand = Callable[[int], list[str]]  # the container's command, given the local port it must listen on


def api_image() -> ImageCommand:
    """The API image: `deploy/docker/api.Dockerfile`'s CMD, running this checkout's code."""
    return lambda port: image_command(API_DOCKERFILE, port)


class LocalCluster:
    """Start with `start()` (or `with`); `apply` objects; talk to `url` as a Kubernetes API; `stop()` ends every pod."""

    def __init__(self, images: Mapping[str, ImageCommand], extra_env: Mapping[str, str] | None = None, time_scale: float = 0.1,
                 workdir: Path | None = None) -> None:
        self.images = dict(images)
        self.extra_env = dict(extra_env or {})
        self.time_scale = time_scale
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="local-cluster-"))
        self.store = Store()
        self._pods: dict[str, PodRuntime] = {}
        self._every_pod: list[PodRuntime] = []
        self._stopping: list[threading.Thread] = []
        self._wake = threading.Event()
        self._halt = threading.Event()
        self.controllers = Controllers(self.store, self._start_pod, self._stop_pod)
        self.api = KubernetesApiServer(self.store, self._wake.set)
        self._services: dict[tuple[str, str], ServiceProxy] = {}
        self._loop = threading.Thread(target=self._run, name="local cluster controllers", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LocalCluster:
        self.api.start()
        self._loop.start()
        atexit.register(self.stop)  # an owner that forgets (or fails before) stop() leaves no pod running
        return self

    def stop(self) -> None:
        """Stop the controllers, every pod (SIGTERM, then SIGKILL after its grace period) and the servers."""
        if self._halt.is_set():
            return
        atexit.unregister(self.stop)
        self._halt.set()
        self._wake.set()
        if self._loop.is_alive():
            self._loop.join(timeout=10)
        with self.store.lock:
            runtimes = list(self._pods.values())
            self._pods.clear()
        stoppers = [threading.Thread(target=runtime.stop, args=(self._grace(runtime.pod),)) for runtime in runtimes]
        for thread in stoppers:
            thread.start()
        for thread in stoppers + self._stopping:
            thread.join(timeout=60)
        for proxy in self._services.values():
            proxy.stop()
        self.api.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what a user of kubectl does ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.api.url

    def apply(self, objects: list[dict]) -> None:
        """Create the objects (as a first `kubectl apply` does); a Service gets its proxy on 127.0.0.1."""
        for obj in objects:
            obj = copy.deepcopy(obj)
            obj["metadata"].setdefault("namespace", "default")
            obj.pop("status", None)
            if obj["kind"] == "Deployment":
                obj["status"] = {}
            self.store.create(obj)
            if obj["kind"] == "Service":
                proxy = ServiceProxy(self.store, obj)
                proxy.start()
                self._services[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = proxy
        self._wake.set()

    def service_url(self, namespace: str, name: str) -> str:
        """Where the Service answers on this machine (its in-cluster address, http://NAME.NS.svc.cluster.local, here)."""
        return self._services[(namespace, name)].url

    def api_client(self):
        """An official-client ApiClient for this API server (what a kubeconfig would give `KubernetesCluster`)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig for this cluster: `KUBECONFIG=path` makes `KubernetesCluster()` talk to it (kubectl needs
        API discovery, which it does not serve)."""
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: local\n"
            f"clusters:\n- name: local\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: local\n  user:\n    token: local-cluster\n"
            f"contexts:\n- name: local\n  context:\n    cluster: local\n    user: local\n    namespace: {namespace}\n"
        )
        return path

    def deployment(self, namespace: str, name: str) -> dict:
        with self.store.lock:
            return copy.deepcopy(self.store.get("Deployment", namespace, name))

    def pods(self, namespace: str, selector: str = "") -> list[dict]:
        with self.store.lock:
            return copy.deepcopy(self.store.list("Pod", namespace, selector))

    def pod_process(self, name: str):
        """The pod's container process (a `subprocess.Popen`), e.g. to kill it as an OOM kill would."""
        return self._pods[name].process

    def processes(self) -> list:
        """Every container process this cluster started (`subprocess.Popen`), stopped ones included."""
        return [process for runtime in self._every_pod for process in runtime.processes]

    def wait_for_rollout(self, namespace: str, name: str, timeout: float = 180.0) -> dict:
        """`kubectl rollout status`: until the Deployment's rollout completes; RolloutFailed otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            deployment = self.deployment(namespace, name)
            if progress(deployment).done:
                return deployment
            if time.monotonic() > deadline:
                raise RolloutFailed(f"Deployment {namespace}/{name} did not roll out within {timeout:g} s: {progress(deployment).waiting_for}; "
                                    f"pod logs are under {self.workdir}")
            time.sleep(0.2)

    # -- the control loop and the kubelet ----------------------------------------------------------
    def _run(self) -> None:
        while not self._halt.is_set():
            self.controllers.reconcile()
            self._wake.wait(0.1)
            self._wake.clear()

    def _start_pod(self, pod: dict) -> None:
        image = pod["spec"]["containers"][0]["image"]
        name = pod["metadata"]["name"]
        runtime = PodRuntime(self.store, pod, self.images.get(image), self._base_env(), self.workdir / name, self.time_scale, self._wake.set)
        self._pods[name] = runtime
        self._every_pod.append(runtime)
        runtime.start()

    def _stop_pod(self, pod: dict) -> None:
        runtime = self._pods.pop(pod["metadata"]["name"], None)

        def stop() -> None:
            if runtime is not None:
                runtime.stop(self._grace(pod))
            self.store.delete("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
            self._wake.set()

        thread = threading.Thread(target=stop, name=f"stop {pod['metadata']['name']}", daemon=True)
        self._stopping.append(thread)
        thread.start()

    def _grace(self, pod: dict) -> float:
        return min(float(pod["spec"].get("terminationGracePeriodSeconds", 30)), 30.0)

    def _base_env(self) -> dict[str, str]:
        # What the image's environment holds: its PATH, and its code (here this checkout) on the path.
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": str(CHECKOUT),
                "PYTHONDONTWRITEBYTECODE": "1", **self.extra_env}


__all__ = ["API_DOCKERFILE", "LocalCluster", "api_image"]
