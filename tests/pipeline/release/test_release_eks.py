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

import dataclasses
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml
from tests.helpers.eks_cluster import (
    GROUP, IMAGE, NAME, NAMESPACE, NEW_IMAGE, api_key_secret, environment_file, next_region, pinned, ready_pods, render, served_by_pod,
)
from tests.helpers.training_data import train_small_model

from retail_assets.release.cluster import REVISION_ANNOTATION, ClusterError
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
# An image the cluster can pull besides the API's: its container exits at once. An image in
# neither list cannot be pulled.
CRASHING_IMAGE = IMAGE[:-64] + "c" * 64
UNKNOWN_IMAGE = IMAGE[:-64] + "e" * 64
IMAGES = {
    IMAGE: api_image(), NEW_IMAGE: api_image(),
    CRASHING_IMAGE: lambda port: [sys.executable, "-c", "raise SystemExit(3)"],
}


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
    cluster = LocalCluster(images=IMAGES, extra_env=pod_env, workdir=tmp_path / "cluster").start()
    try:
        cluster.apply([*render("v1", environment=environment_file(tmp_path, lake.uri, region)), api_key_secret()])
        cluster.wait_for_rollout(NAMESPACE, NAME)
        yield registry, cluster
    finally:
        cluster.stop()
        assert all(p.poll() is not None for p in cluster.processes()), "every pod process is stopped"


def eks_release(world, trained, baskets=None, kubernetes=None, **settings) -> EksRelease:
    registry, cluster = world
    options = {"rollout_timeout_seconds": 180.0, "poll_seconds": 0.2, "service_url": cluster.service_url(NAMESPACE, NAME)} | settings
    return EksRelease(registry, kubernetes or KubernetesCluster(cluster.api_client()), EksReleaseSettings(**options),
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
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(f"{cluster.service_url(NAMESPACE, NAME)}/v1/model", timeout=10)  # the pods take the Secret's key

    # v3 is rejected after it served: rolling back restores v2's pin (revision 2's ReplicaSet, as revision 4).
    registry.decide("v3", REJECTED, "complaints from stores", "ana")
    release = eks_release(world, trained).rollback(smoke(trained), reason="v3 rejected", actor="model_approval_sensor")
    assert (release.version, release.reason) == ("v2", "rollback: v3 rejected")
    assert_serving(world, "v2")
    assert cluster.deployment(NAMESPACE, NAME)["metadata"]["annotations"][REVISION_ANNOTATION] == "4"


def test_a_rollout_that_fails_is_rolled_back_to_the_pin_that_served(world, trained):
    """An image that cannot be pulled or crashes stops the wait at once. A version rejected while its
    release runs leaves the new pods (pinned to it) not ready, until progressDeadlineSeconds passes
    and the controller reports ProgressDeadlineExceeded. Each time the Deployment goes back to
    revision 1's template (its ConfigMap pins v1), the pods serve v1 and the record stays."""
    registry, cluster = world
    # kubectl patch: a short deadline, so the test does not wait 600 s (the spec changes, the template does not).
    cluster.store.patch("Deployment", NAMESPACE, NAME, "application/merge-patch+json", {"spec": {"progressDeadlineSeconds": 4}})

    def rejected_meanwhile(model) -> None:  # a person rejects v2 after the release checked its status
        answers_real_baskets(model, trained[1])
        registry.decide("v2", REJECTED, "found a leak in the features", "bo")

    cases = [
        (UNKNOWN_IMAGE, smoke(trained), r"pod retail-api-\w+-\w+ of revision 2 cannot start: (ErrImagePull|ImagePullBackOff) \(.*pulling image"),
        (CRASHING_IMAGE, smoke(trained), r"of revision 4 cannot start: CrashLoopBackOff \(back-off 10s restarting failed container=api"),
        (None, rejected_meanwhile, r"revision 6 made no progress within progressDeadlineSeconds \(4 s\): ReplicaSet \"retail-api-\w+\" has timed out"),
    ]
    for image, smoke_test, expected in cases:
        with pytest.raises(ReleaseError, match=expected) as failure:
            eks_release(world, trained, image=image).release(registry.get("v2"), smoke_test)
        message = str(failure.value)
        assert "model v2 was rolled out to Deployment retail/retail-api but not released" in message
        assert "(model v1): the API keeps serving v1" in message
        cluster.wait_for_rollout(NAMESPACE, NAME)
        assert cluster.deployment(NAMESPACE, NAME)["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
        assert_serving(world, "v1")
    assert registry.get("v2").status == REJECTED


def test_a_failed_rollback_says_what_a_person_must_do_and_nothing_moves_before_the_checks(world, trained):
    registry, cluster = world
    before = cluster.deployment(NAMESPACE, NAME)["metadata"]["generation"]
    target = eks_release(world, trained)
    with pytest.raises(ReleaseError, match=r"model v2 failed its smoke test \(there are no gold baskets.*nothing was rolled out"):
        target.release(registry.get("v2"), lambda model: answers_real_baskets(model, []))
    with pytest.raises(ReleaseError, match="model v3 is PendingManualApproval, not Approved: the API keeps serving v1"):
        target.release(registry.get("v3"), smoke(trained))
    assert cluster.deployment(NAMESPACE, NAME)["metadata"]["generation"] == before

    kubernetes = KubernetesCluster(cluster.api_client())
    real_patch = kubernetes.patch_deployment

    def someone_else_first(namespace, name, patch):  # a `kubectl annotate` lands between the release's read and its patch
        cluster.store.patch("Deployment", namespace, name, "application/merge-patch+json", {"metadata": {"annotations": {"owner": "bo"}}})
        return real_patch(namespace, name, patch)

    kubernetes.patch_deployment = someone_else_first
    with pytest.raises(ReleaseError, match="HTTP 409 Conflict.*Deployment retail/retail-api is unchanged: the API keeps serving v1"):
        eks_release(world, trained, kubernetes=kubernetes).release(registry.get("v2"), smoke(trained))

    kubernetes = KubernetesCluster(cluster.api_client())

    def unreachable(*args):
        raise ClusterError("roll back Deployment retail/retail-api: the Kubernetes API did not answer (connection refused)")

    kubernetes.rollback = unreachable
    with pytest.raises(ReleaseError) as failure:
        eks_release(world, trained, kubernetes=kubernetes, image=CRASHING_IMAGE).release(registry.get("v2"), smoke(trained))
    message = str(failure.value)
    assert "CrashLoopBackOff" in message and "the rollback to revision 1 failed too" in message
    assert "kubectl -n retail rollout undo deployment/retail-api --to-revision=1" in message
    assert "The registry still records v1 as serving" in message
    assert registry.released().version == "v1", "the record is not moved to a version that never served"
    # The person's fix, as the message gives it: revision 1's pods serve v1 again.
    kubectl = KubernetesCluster(cluster.api_client())
    kubectl.rollback(NAMESPACE, NAME, "1", {MODEL_VERSION_ANNOTATION: "v1"})
    cluster.wait_for_rollout(NAMESPACE, NAME)
    assert_serving(world, "v1")


def test_a_killed_pod_is_restarted_and_a_failed_smoke_through_the_service_rolls_back(world, trained):
    """The kubelet restarts a killed container while the Service sends every request to the ready pod;
    a Service answer the release cannot accept (413: the batch exceeds the API's limits) rolls back."""
    registry, cluster = world
    victim = ready_pods(cluster)[0]["metadata"]["name"]
    # As the OOM killer would, and as the container runtime then ends the container's other
    # processes (the API's log shipper): SIGKILL to the pod's process group, so none is left behind.
    os.killpg(cluster.pod_process(victim).pid, signal.SIGKILL)

    def victim_status() -> dict:
        return next(p for p in cluster.pods(NAMESPACE) if p["metadata"]["name"] == victim)["status"]["containerStatuses"][0]

    service, answered, deadline = cluster.service_url(NAMESPACE, NAME), [], time.monotonic() + 120
    while victim_status()["ready"]:  # the kubelet notices the exit and takes the pod out of the Service
        assert time.monotonic() < deadline
        time.sleep(0.05)
    while not (victim_status()["restartCount"] == 1 and len(ready_pods(cluster)) == 2):
        with urllib.request.urlopen(f"{service}/readyz", timeout=10) as answer:
            answered.append(answer.status)
        assert time.monotonic() < deadline, "the killed pod was not restarted"
        time.sleep(0.2)
    assert answered and set(answered) == {200}, "while it restarted, the Service sent every request to the ready pod"
    assert victim_status()["lastState"]["terminated"]["exitCode"] == 137, "SIGKILL, as the container runtime reports it"
    assert_serving(world, "v1")

    too_long = [dataclasses.replace(basket, lines=basket.lines * 600) for basket in trained[1][:2]]
    with pytest.raises(ReleaseError, match=r"answered HTTP 413: .*has 7200 lines; at most 500 are scored") as failure:
        eks_release(world, trained, baskets=lambda: too_long).release(registry.get("v2"), smoke(trained))
    assert "rolled back to revision 1 (model v1)" in str(failure.value)
    cluster.wait_for_rollout(NAMESPACE, NAME)
    assert_serving(world, "v1")
    assert cluster.deployment(NAMESPACE, NAME)["metadata"]["annotations"][REVISION_ANNOTATION] == "3", "revision 1's template, as revision 3"


def test_the_release_change_is_what_render_sh_renders_for_the_new_version(tmp_path):
    """Live objects from `render.sh --model-version v1`, changed by the release to v2, equal the
    render of v2: same ConfigMap name (kustomize's hash) and data, same pod template, same annotation.
    So the delivery workflow's next apply, which reads the version back, changes nothing."""
    deployed = render("v1")
    for image, new_image in ((IMAGE, None), (IMAGE, NEW_IMAGE)):
        old = {doc["kind"]: doc for doc in deployed}
        live = {**old["Deployment"], "metadata": {**old["Deployment"]["metadata"], "resourceVersion": "7"}}
        change = release_change(live, old["ConfigMap"], container_name="api", model_version="v2", image=new_image)
        expected = {doc["kind"]: doc for doc in render("v2", new_image or image)}
        assert change.config_map["metadata"]["name"] == expected["ConfigMap"]["metadata"]["name"]
        assert change.config_map["data"] == expected["ConfigMap"]["data"]
        assert change.config_map["metadata"]["labels"] == expected["ConfigMap"]["metadata"]["labels"]
        template = yaml.safe_load(yaml.safe_dump(live["spec"]["template"]))
        for patched in change.deployment_patch["spec"]["template"]["spec"]["containers"]:
            next(c for c in template["spec"]["containers"] if c["name"] == patched["name"]).update(patched)
        assert template == expected["Deployment"]["spec"]["template"]
        assert change.deployment_patch["metadata"]["annotations"] == expected["Deployment"]["metadata"]["annotations"]
        assert change.deployment_patch["metadata"]["resourceVersion"] == "7", "a concurrent change must make the patch fail"


def test_the_config_map_hash_is_kustomizes_for_awkward_values_too():
    """Go's JSON escapes <, > and & where Python's does not; the suffix must still be kustomize's."""
    assert kustomize_config_map_hash({"A": "x<y>&z", "B": "é"}) == kustomize_config_map_hash({"B": "é", "A": "x<y>&z"})
    config_map = next(doc for doc in render("v1") if doc["kind"] == "ConfigMap")
    assert config_map["metadata"]["name"].endswith("-" + kustomize_config_map_hash(config_map["data"]))
