"""The EKS release (RETAIL_RELEASE=eks): render, apply, watch the rollout, predict through the Service,
and roll back on any failure so the registry's record of what serves stays true.

No cluster runs here: Kubernetes has no moto. `tests/_kubernetes_fake.py` plays the API server,
the Deployment controller, the kubelet and the API's Service, starting from the objects
`deploy/k8s/render.sh` renders (so kubectl must be installed, as for tests/test_deploy_k8s.py).
The registry, the model artefacts and the smoke test are the project's real ones, on a lake on disk.
"""

from __future__ import annotations

import base64

import pytest
import yaml
from tests.helpers.kubernetes_fake import FakeClock, FakeCluster
from tests.helpers.training_data import train_small_model
from tests.helpers.deploy_tools import DEPLOY, require_tool, run

from retail_assets.release.cluster import REVISION_ANNOTATION, ServiceAnswer
from retail_assets.release.eks import EksRelease, EksReleaseSettings
from retail_assets.release.manifests import MODEL_VERSION_ANNOTATION, kustomize_config_map_hash, release_change
from retail_assets.release.smoke import answers_real_baskets
from retail_assets.release.target import ReleaseError
from retail_model.lake import LocalLake
from retail_model.registry import APPROVED, PENDING, REJECTED, LakeModelRegistry

IMAGE = "111122223333.dkr.ecr.ap-southeast-1.amazonaws.com/retail-mlops/api@sha256:" + "a" * 64
NEW_IMAGE = IMAGE[:-64] + "b" * 64
API_KEY = "0123456789abcdef"


def render(model_version: str, image: str = IMAGE) -> list[dict]:
    kubectl_found = require_tool("kubectl", "install kubectl (it carries kustomize)")
    assert kubectl_found
    done = run([str(DEPLOY / "k8s" / "render.sh"), "eks", "--image", image, "--model-version", model_version])
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def deployed_v1() -> list[dict]:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "retail-api-key", "namespace": "retail"},
              "data": {"api-key": base64.b64encode(API_KEY.encode()).decode()}}
    return [*render("v1"), secret]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model_dir, test = train_small_model(tmp_path_factory.mktemp("eks-model"))
    return model_dir, [item.basket for item in test[:20]]


@pytest.fixture
def registry(tmp_path, trained) -> LakeModelRegistry:
    lake = LocalLake(tmp_path / "lake")
    registry = LakeModelRegistry(lake)
    for version, status in (("v1", APPROVED), ("v2", APPROVED), ("v3", PENDING)):
        lake.upload_directory(trained[0], f"models/{version}")
        registry.register(version, lake.uri_of(f"models/{version}"), "1", {"macro_f1": 0.9}, status, reason="gate", actor="promotion-gate")
    registry.record_release("v1", reason="first release", actor="test")
    return registry


@pytest.fixture
def cluster(deployed_v1) -> FakeCluster:
    return FakeCluster(deployed_v1)


def eks_release(registry, cluster, trained, **settings) -> EksRelease:
    clock = FakeClock()
    options = {"rollout_timeout_seconds": 60.0, "poll_seconds": 5.0} | settings
    return EksRelease(registry, cluster, EksReleaseSettings(**options), baskets=lambda: trained[1], clock=clock, sleep=clock.sleep)


def smoke(trained):
    return lambda model: answers_real_baskets(model, trained[1])


def assert_still_serving_v1(registry, cluster, error_text: str) -> None:
    assert registry.released().version == "v1", "the registry's record of what serves must not move"
    assert cluster.serving_version() == "v1", "every replica serves the previous version again"
    assert cluster.deployment["metadata"]["annotations"][MODEL_VERSION_ANNOTATION] == "v1"
    assert "keeps serving v1" in error_text


def test_the_release_change_is_what_render_sh_renders_for_the_new_version(deployed_v1):
    """Live objects from `render.sh --model-version v1`, changed by the release to v2, equal the
    render of v2: same ConfigMap name (kustomize's hash) and data, same pod template, same annotation.
    So the delivery workflow's next apply, which reads the version back, changes nothing."""
    for image, new_image in ((IMAGE, None), (IMAGE, NEW_IMAGE)):
        old = {doc["kind"]: doc for doc in deployed_v1}
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
    rendered = render("v1")
    config_map = next(doc for doc in rendered if doc["kind"] == "ConfigMap")
    assert config_map["metadata"]["name"].endswith("-" + kustomize_config_map_hash(config_map["data"]))


def test_a_release_rolls_out_answers_through_the_service_and_only_then_is_recorded(registry, cluster, trained):
    target = eks_release(registry, cluster, trained)
    release = target.release(registry.get("v2"), smoke(trained), reason="approved by ana", actor="dagster run 1234")

    assert (release.version, release.previous_version, release.reason) == ("v2", "v1", "approved by ana")
    assert registry.released().version == "v2" and cluster.serving_version() == "v2"
    assert cluster.deployment["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    assert cluster.deployment["metadata"]["annotations"][MODEL_VERSION_ANNOTATION] == "v2"
    container = cluster.deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE, "without RETAIL_API_IMAGE the running image is kept"
    # The previous ConfigMap stays: revision 1's pods need it if anyone rolls back.
    assert len([name for name in cluster.config_maps if name.startswith("retail-api-settings-")]) == 2
    url, headers, request = cluster.requests[-1]
    assert url == "http://retail-api.retail.svc.cluster.local/v1/predict/batch"
    assert headers["X-API-Key"] == API_KEY, "the key is read from the Secret the Deployment references"
    assert len(request.baskets) == 20
    order = [call.split()[0] for call in cluster.calls]
    assert order.index("patch_deployment") < order.index("post"), "the Service is asked only after the rollout"
    assert "rollback" not in order


def test_the_image_is_rolled_out_with_the_model_when_one_is_given(registry, cluster, trained):
    eks_release(registry, cluster, trained, image=NEW_IMAGE).release(registry.get("v2"), smoke(trained))
    assert cluster.deployment["spec"]["template"]["spec"]["containers"][0]["image"] == NEW_IMAGE
    assert cluster.serving_version() == "v2"


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("crash", r"pod retail-api-\w+-0 of revision 2 cannot start: CrashLoopBackOff \(back-off 40s"),
        ("stuck", r"did not finish within 60 s: still waiting for 1 of 2 replicas updated to revision 2"),
        ("deadline", r"revision 2 made no progress within progressDeadlineSeconds \(600 s\)"),
    ],
)
def test_a_rollout_that_fails_is_rolled_back_and_the_record_stays_true(registry, cluster, trained, outcome, expected):
    cluster.outcomes = {"v2": outcome}
    with pytest.raises(ReleaseError, match=expected) as failure:
        eks_release(registry, cluster, trained).release(registry.get("v2"), smoke(trained))
    message = str(failure.value)
    assert "model v2 was rolled out to Deployment retail/retail-api but not released" in message
    assert "rolled back to revision 1 (model v1)" in message
    assert_still_serving_v1(registry, cluster, message)
    assert cluster.deployment["metadata"]["annotations"][REVISION_ANNOTATION] == "3", "revision 1's template, as revision 3"
    assert not any(call.startswith("post") for call in cluster.calls), "a failed rollout is never smoke-tested"


def test_an_image_that_cannot_be_pulled_is_rolled_back_to_the_running_image(registry, cluster, trained):
    cluster.outcomes = {NEW_IMAGE: "image-pull"}
    with pytest.raises(ReleaseError, match=r"cannot start: ImagePullBackOff \(Back-off pulling image") as failure:
        eks_release(registry, cluster, trained, image=NEW_IMAGE).release(registry.get("v2"), smoke(trained))
    assert_still_serving_v1(registry, cluster, str(failure.value))
    assert cluster.deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (ServiceAnswer(500, b'{"detail": "model failed to load"}'), r"answered HTTP 500: \{\"detail\": \"model failed to load\"\}"),
        (ServiceAnswer(200, b'{"model_version": "v1", "predictions": [], "request_id": "r"}'), "answered with model v1, not v2"),
        (ServiceAnswer(200, b"<html>bad gateway</html>"), "answered something that is not a batch prediction"),
    ],
)
def test_a_failed_smoke_prediction_through_the_service_rolls_back(registry, cluster, trained, answer, expected):
    cluster.answers = {"v2": answer}
    with pytest.raises(ReleaseError, match=expected) as failure:
        eks_release(registry, cluster, trained).release(registry.get("v2"), smoke(trained))
    assert_still_serving_v1(registry, cluster, str(failure.value))


def test_a_failed_rollback_says_what_a_person_must_do(registry, cluster, trained):
    cluster.outcomes = {"v2": "crash"}
    cluster.broken = {"rollback"}
    with pytest.raises(ReleaseError) as failure:
        eks_release(registry, cluster, trained).release(registry.get("v2"), smoke(trained))
    message = str(failure.value)
    assert "CrashLoopBackOff" in message and "the rollback to revision 1 failed too" in message
    assert "kubectl -n retail rollout undo deployment/retail-api --to-revision=1" in message
    assert "The registry still records v1 as serving" in message
    assert registry.released().version == "v1", "the record is not moved to a version that never served"


def test_a_version_rejected_during_the_rollout_is_rolled_back(registry, cluster, trained):
    """record_release re-checks the status under the registry's lock; the cluster follows the record."""
    answer = cluster.post

    def reject_then_answer(*args):
        registry.decide("v2", REJECTED, "found a leak in the features", "bo")
        return answer(*args)

    cluster.post = reject_then_answer
    with pytest.raises(ReleaseError, match="only an Approved version can be released") as failure:
        eks_release(registry, cluster, trained).release(registry.get("v2"), smoke(trained))
    assert_still_serving_v1(registry, cluster, str(failure.value))


def test_nothing_moves_when_the_model_fails_its_smoke_test_or_is_not_approved(registry, cluster, trained):
    target = eks_release(registry, cluster, trained)
    with pytest.raises(ReleaseError, match=r"model v2 failed its smoke test \(there are no gold baskets.*nothing was rolled out"):
        target.release(registry.get("v2"), lambda model: answers_real_baskets(model, []))
    with pytest.raises(ReleaseError, match="model v3 is PendingManualApproval, not Approved: the API keeps serving v1"):
        target.release(registry.get("v3"), smoke(trained))
    assert cluster.calls == [] and registry.released().version == "v1"


def test_a_deploy_in_flight_or_a_concurrent_change_stops_the_release_before_anything_changes(registry, cluster, trained):
    target = eks_release(registry, cluster, trained)
    cluster.patch_deployment("retail", "retail-api", {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": NEW_IMAGE}]}}}})
    with pytest.raises(ReleaseError, match="is still rolling out .*release v2 once it has finished: the API keeps serving v1"):
        target.release(registry.get("v2"), smoke(trained))
    cluster.settle()

    real_patch = cluster.patch_deployment

    def someone_else_first(namespace, name, patch):
        cluster.deployment["metadata"]["resourceVersion"] = "999"  # a kubectl apply landed meanwhile
        return real_patch(namespace, name, patch)

    cluster.patch_deployment = someone_else_first
    with pytest.raises(ReleaseError, match="HTTP 409 Conflict.*Deployment retail/retail-api is unchanged: the API keeps serving v1"):
        target.release(registry.get("v2"), smoke(trained))
    assert registry.released().version == "v1" and cluster.serving_version() == "v1"


def test_rolling_back_a_rejected_release_rolls_the_cluster_to_the_earlier_version(registry, cluster, trained):
    target = eks_release(registry, cluster, trained)
    target.release(registry.get("v2"), smoke(trained))
    registry.decide("v2", REJECTED, "complaints from stores", "ana")
    release = target.rollback(smoke(trained), reason="v2 rejected", actor="model_approval_sensor")
    assert (release.version, release.reason) == ("v1", "rollback: v2 rejected")
    assert cluster.serving_version() == "v1" and registry.released().version == "v1"
