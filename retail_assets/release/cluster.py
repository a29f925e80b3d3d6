"""`Cluster`: the few Kubernetes calls an API release makes, behind one small interface.

The EKS release (`release/eks.py`) reads the live Deployment and its settings ConfigMap, creates the
new ConfigMap, patches the Deployment, watches its ReplicaSets' pods, rolls back to a revision and
asks the Service for a prediction; nothing else. `KubernetesCluster` (`release/kubernetes_cluster.py`)
does these over the `kubernetes` client; the tests use an in-memory fake. Objects travel as plain
dicts in the API's own field names (`metadata.generation`, `status.updatedReplicas`), exactly as
`kubectl get -o json` shows them, so rendered manifests and live objects compare directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"  # set by the Deployment controller


class ClusterError(Exception):
    """A Kubernetes API call failed (the message names the object and the API's answer)."""


class ClusterConflict(ClusterError):
    """The object changed since it was read (another release or a deploy got there first)."""


@dataclass(frozen=True)
class PodState:
    """One pod of a Deployment, as far as a rollout cares."""

    name: str
    revision: str | None  # the Deployment revision of the pod's ReplicaSet
    ready: bool
    waiting_reasons: tuple[str, ...] = ()  # containers' `state.waiting.reason`, e.g. CrashLoopBackOff
    message: str = ""  # the first waiting container's message, for the error a person reads
    restarts: int = 0


@dataclass(frozen=True)
class ServiceAnswer:
    status: int
    body: bytes


class Cluster(ABC):
    """The Kubernetes API as a release uses it: one namespace's Deployment, ConfigMaps, pods, Service."""

    @abstractmethod
    def read_deployment(self, namespace: str, name: str) -> dict: ...

    @abstractmethod
    def read_config_map(self, namespace: str, name: str) -> dict: ...

    @abstractmethod
    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        """One key of a Secret, decoded."""

    @abstractmethod
    def create_config_map(self, namespace: str, body: dict) -> None:
        """Create it; one that exists already is left as is (generated names carry a hash of the content)."""

    @abstractmethod
    def patch_deployment(self, namespace: str, name: str, patch: dict) -> dict:
        """A strategic merge patch; `metadata.resourceVersion` in it makes a concurrent change a `ClusterConflict`."""

    @abstractmethod
    def pods(self, namespace: str, deployment: dict) -> list[PodState]:
        """The Deployment's pods, each with the revision of the ReplicaSet that owns it."""

    @abstractmethod
    def rollback(self, namespace: str, name: str, revision: str, annotations: dict[str, str]) -> None:
        """`kubectl rollout undo --to-revision`: put that revision's pod template back, and set `annotations`."""

    @abstractmethod
    def post(self, url: str, body: bytes, headers: dict[str, str], timeout_seconds: float) -> ServiceAnswer:
        """POST to a Service (its in-cluster address, or a port-forward of it)."""
