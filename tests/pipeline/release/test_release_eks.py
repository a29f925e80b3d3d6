"""The EKS release (RETAIL_RELEASE=eks) against pods that run the real API: render, apply, watch the
rollout, predict through the Service, record; roll back on any failure so the record stays true.

No Kubernetes runs here, so `LocalCluster` (retail_assets/release/local_cluster) plays the API
server (over HTTP: the release talks to it through the real `KubernetesCluster` and the official
client), the Deployment controller and the kubelet. Everything else is real: its pods are
`retail_api` uvicorn processes started with the environment the rendered Deployment and its
ConfigMap give them, the Service is a round-robin proxy over the ready ones, and the registry is
SageMaker's Model Registry with the artefacts on S3, both on moto's server over HTTP.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
from tests.helpers.eks_cluster import (
    API_KEY, GROUP, IMAGE, NAME, NAMESPACE, NEW_IMAGE, api_key_secret, environment_file, next_region, pinned, ready_pods, render, served_by_pod,
)
from tests.helpers.training_data import train_small_model

from retail_assets.release.cluster import REVISION_ANNOTATION
from retail_assets.release.eks import EksRelease, EksReleaseSettings
from retail_assets.release.kubernetes_cluster import KubernetesCluster
from retail_assets.release.local_cluster import LocalCluster, api_image
from retail_assets.release.manifests import MODEL_VERSION_ANNOTATION, kustomize_config_map_hash, release_change
from retail_assets.release.smoke import answers_real_baskets
from retail_assets.release.target import ReleaseError
from retail_model.lake import S3Lake
from retail_model.registry import APPROVED, PENDING, REJECTED
from retail_model.registry.sagemaker import SageMakerModelRegistry
from retail_model.settings import AwsSettings

VERSIONS = ("v1", "v2", "v3")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model_dir, test = train_small_model(tmp_path_factory.mktemp("eks-model"))
    return model_dir, [item.basket for item in test[:20]]


@pytest.fixture
def world(aws, trained, tmp_path):
    """v1, v2, v3 registered (v3 pending) and v1 released and deployed: two API pods serve v1."""
    region = next_region()
    settings = AwsSettings(endpoint_url=aws.endpoint_url, region=region)
    lake = S3Lake(f"s3://{aws.bucket}/lake", settings)
    registry = SageMakerModelRegistry(lake, GROUP, settings)
    for version in VERSIONS:
        lake.upload_directory(trained[0], f"models/{version}")
        registry.register(version, lake.uri_of(f"models/{version}"), "1", {"macro_f1": 0.9}, PENDING if version == "v3" else APPROVED,
                          reason="gate", actor="promotion-gate")
    registry.record_release("v1", reason="first release", actor="test")
    # What EKS gives every pod besides its spec: IRSA's credentials (here moto's keys and address).
    pod_env = {"AWS_ENDPOINT_URL": aws.endpoint_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    cluster = LocalCluster(images={IMAGE: api_image(), NEW_IMAGE: api_image()}, extra_env=pod_env, workdir=tmp_path / "cluster").start()
    try:
        cluster.apply([*render("v1", environment=environment_file(tmp_path, lake.uri, region)), api_key_secret()])
        cluster.wait_for_rollout(NAMESPACE, NAME)
        yield registry, cluster
    finally:
        processes = [cluster.pod_process(pod["metadata"]["name"]) for pod in cluster.pods(NAMESPACE)]
        cluster.stop()
        assert all(p is None or p.poll() is not None for p in processes), "every pod process is stopped"


def eks_release(world, trained, baskets=None, **settings) -> EksRelease:
    registry, cluster = world
    options = {"rollout_timeout_seconds": 180.0, "poll_seconds": 0.2, "service_url": cluster.service_url(NAMESPACE, NAME)} | settings
    return EksRelease(registry, KubernetesCluster(cluster.api_client()), EksReleaseSettings(**options),
                      baskets=baskets or (lambda: trained[1]))


def smoke(trained):
    return lambda model: answers_real_baskets(model, trained[1])


def assert_serving(world, version: str) -> None:
    """The registry's record, the pin, the annotation and every ready pod agree on `version`."""
    registry, cluster = world
    pods = ready_pods(cluster)
    assert registry.released().version == version
    assert pinned(cluster) == version
    assert cluster.deployment(NAMESPACE, NAME)["metadata"]["annotations"][MODEL_VERSION_ANNOTATION] == version
    assert len(pods) == 2 and [served_by_pod(pod) for pod in pods] == [version, version]


class PodCounter:
    """Samples the pods during a rollout: how many exist and how many are ready, at every moment seen."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster, self.samples, self._stop = cluster, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pods = [p for p in self.cluster.pods(NAMESPACE) if "deletionTimestamp" not in p["metadata"]]
            self.samples.append((len(pods), len(ready_pods(self.cluster))))
            time.sleep(0.05)

    def __enter__(self) -> PodCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_two_releases_in_a_row_each_serve_what_they_pin(world, trained):
    """The second release is not rolled back: every pod serves the pinned version, not the registry's
    previous record. Pods are replaced one at a time (maxSurge 1, maxUnavailable 0)."""
    registry, cluster = world
    assert_serving(world, "v1")
    registry.decide("v3", APPROVED, "looks good", "ana")
    for version, revision in (("v2", "2"), ("v3", "3")):
        with PodCounter(cluster) as counter:
            release = eks_release(world, trained).release(registry.get(version), smoke(trained), reason="approved")
        assert release.version == version
        assert_serving(world, version)
        assert cluster.deployment(NAMESPACE, NAME)["metadata"]["annotations"][REVISION_ANNOTATION] == revision
        assert max(total for total, _ in counter.samples) == 3, "one surge pod at a time"
        assert min(ready for _, ready in counter.samples) == 2, "never fewer ready pods than replicas"
    assert [r.version for r in registry.release_history()] == ["v1", "v2", "v3"]
