"""The API's Kubernetes manifests: every overlay renders, validates strictly against the cluster's
Kubernetes version, and keeps the properties the cluster and its users rely on.

The Kubernetes version is read from infra/envs/prod/variables.tf (`kubernetes_version`), the one
place it is set: the cluster runs it, and these manifests are validated against its API schemas.
No cluster is involved (kubectl only runs kustomize); the EKS pod identity and Azure workload
identity webhooks are not run either: the tests check the inputs those webhooks act on.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
import yaml

from tests.helpers.deploy_tools import DEPLOY, INFRA, require_tool, run, terraform_variable_default

K8S = DEPLOY / "k8s"
OVERLAYS = ["base", "overlays/eks", "overlays/aks"]
PROD_VARIABLES = INFRA / "envs" / "prod" / "variables.tf"
DIGEST_IMAGE = "111122223333.dkr.ecr.ap-southeast-1.amazonaws.com/retail-mlops/api@sha256:" + "0123456789abcdef" * 4


def kubectl() -> str:
    return require_tool("kubectl", "install kubectl (it embeds kustomize)")


@functools.cache
def _render(directory: str) -> str:
    result = run([kubectl(), "kustomize", str(K8S / directory)])
    assert result.returncode == 0, f"kubectl kustomize {directory} failed: {result.stderr}"
    return result.stdout


def rendered(directory: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(_render(directory)) if doc]


def only(objects: list[dict], kind: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def api_container(objects: list[dict]) -> dict:
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "api")


def cluster_kubernetes_version() -> str:
    version = terraform_variable_default(PROD_VARIABLES, "kubernetes_version")
    assert re.fullmatch(r"1\.\d+", version), f"kubernetes_version default {version!r} is not a 1.N minor"
    return version


# --- Schema --------------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", OVERLAYS)
def test_renders_and_validates_strictly_for_the_clusters_kubernetes_version(directory, tmp_path):
    validator = require_tool("kubernetes-validate", "pip install kubernetes-validate")
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(_render(directory))
    version = f"{cluster_kubernetes_version()}.0"
    result = run([validator, "--strict", "--quiet", "--kubernetes-version", version, str(manifest)])
    assert result.returncode == 0, f"{directory} against Kubernetes {version}:\n{result.stdout}{result.stderr}"


# --- The pod ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", OVERLAYS)
def test_pod_runs_locked_down(directory):
    objects = rendered(directory)
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    container = api_container(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 10000, "a uid that is not root and matches no host user"
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"] and not security["capabilities"].get("add")
    assert not security.get("privileged", False)
    # The only writable path is an emptyDir on /tmp (model download, joblib scratch).
    tmp_mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == tmp_mount["name"])
    assert "emptyDir" in volume


@pytest.mark.parametrize("directory", OVERLAYS)
def test_probes_and_resources(directory):
    objects = rendered(directory)
    container = api_container(objects)
    port_names = {port["name"] for port in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # ready only with a model loaded
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names | {8000}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "a cold model fetch from S3 must fit in the startup window"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{kind} must set cpu and memory"
    deployment = only(objects, "Deployment")
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count; an apply must not reset it"


@pytest.mark.parametrize("directory", OVERLAYS)
def test_api_key_comes_from_a_secret_never_from_git(directory):
    objects = rendered(directory)
    assert not [o for o in objects if o["kind"] == "Secret"], "a Secret in Git would put the key in the repository"
    env = {e["name"]: e for e in api_container(objects).get("env", [])}
    if "RETAIL_API_KEY_FILE" in env:  # the mounted-file variant
        path = env["RETAIL_API_KEY_FILE"]["value"]
        mount = next(m for m in api_container(objects)["volumeMounts"] if path.startswith(m["mountPath"]))
        pod = only(objects, "Deployment")["spec"]["template"]["spec"]
        assert "secret" in next(v for v in pod["volumes"] if v["name"] == mount["name"])
    else:
        reference = env["RETAIL_API_KEY"]["valueFrom"]["secretKeyRef"]
        assert reference["name"] and reference["key"]
        assert not reference.get("optional"), "a missing key must stop the pod, not serve without authentication"
    for config_map in (o for o in objects if o["kind"] == "ConfigMap"):
        assert not {k for k in config_map.get("data", {}) if "KEY" in k or "PASSWORD" in k or "SECRET" in k}


@pytest.mark.parametrize("directory", OVERLAYS)
def test_pods_spread_and_survive_disruption(directory):
    objects = rendered(directory)
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    keys = {constraint["topologyKey"] for constraint in pod["topologySpreadConstraints"]}
    assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys
    hpa = only(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    pdb = only(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "a drain could never evict a pod"
    labels = only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for selector in (pdb["spec"]["selector"]["matchLabels"], only(objects, "Service")["spec"]["selector"]):
        assert selector.items() <= labels.items(), "selector does not select the API's pods"


@pytest.mark.parametrize("directory", OVERLAYS)
def test_hpa_scales_on_cpu_and_request_rate(directory):
    hpa = only(rendered(directory), "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "retail-api"}
    by_type = {metric["type"]: metric for metric in hpa["spec"]["metrics"]}
    assert by_type["Resource"]["resource"]["name"] == "cpu"
    assert by_type["Pods"]["pods"]["metric"]["name"] == "retail_api_requests_per_second"
    assert hpa["spec"]["minReplicas"] >= 2, "one replica per zone at least, so a rollout or a zone loss keeps serving"


@pytest.mark.parametrize("directory", OVERLAYS)
def test_every_object_carries_the_recommended_labels(directory):
    for obj in rendered(directory):
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "retail-mlops", f"{obj['kind']}/{obj['metadata']['name']}"
        assert labels.get("app.kubernetes.io/managed-by") == "kustomize"
        if obj["kind"] != "ConfigMap":
            assert labels.get("app.kubernetes.io/name") == "retail-api", f"{obj['kind']}/{obj['metadata']['name']}"
        assert obj["metadata"].get("namespace") == "retail"


def test_settings_configmap_carries_the_aws_mode_and_rolls_the_pods():
    objects = rendered("overlays/eks")
    config_map = only(objects, "ConfigMap")
    data = config_map["data"]
    assert data["RETAIL_MODE"] == "aws"
    assert data["RETAIL_REGISTRY"] == "sagemaker"
    assert re.fullmatch(r"s3://[a-z0-9.-]+/[\w/-]+", data["RETAIL_LAKE"]), data["RETAIL_LAKE"]
    assert data["AWS_DEFAULT_REGION"] == terraform_variable_default(PROD_VARIABLES, "region")
    assert "RETAIL_MODEL_VERSION" in data and data["RETAIL_MODEL_GROUP"]
    # The generated name carries a content hash, so a new value (a model version) rolls the pods.
    assert re.fullmatch(r"retail-api-settings-[a-z0-9]{10}", config_map["metadata"]["name"])
    sources = [s["configMapRef"]["name"] for s in api_container(objects)["envFrom"] if "configMapRef" in s]
    assert sources == [config_map["metadata"]["name"]]


# --- Cloud identity and ingress --------------------------------------------------------------------


def test_eks_overlay_uses_irsa_and_an_alb_with_tls():
    objects = rendered("overlays/eks")
    service_account = only(objects, "ServiceAccount")
    role = service_account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", role), role
    assert only(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == service_account["metadata"]["name"]
    # The webhook injects the projected token and AWS_WEB_IDENTITY_TOKEN_FILE unless the pod
    # already has them; a manifest that set either would silently switch IRSA off.
    container = api_container(objects)
    assert not {"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & {
        e["name"] for e in container.get("env", [])
    }
    assert "aws-iam-token" not in {v["name"] for v in only(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]}

    ingress = only(objects, "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert re.fullmatch(r"arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}", annotations["alb.ingress.kubernetes.io/certificate-arn"])
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
    assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert "set-from-environment.env" not in yaml.safe_dump(objects), "a replacement from environment.env did not apply"
    host = ingress["spec"]["rules"][0]["host"]
    assert ingress["spec"]["tls"][0]["hosts"] == [host]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == only(objects, "Service")["metadata"]["name"]


def test_aks_overlay_uses_workload_identity_and_app_routing():
    objects = rendered("overlays/aks")
    annotations = only(objects, "ServiceAccount")["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", annotations["azure.workload.identity/client-id"])
    template = only(objects, "Deployment")["spec"]["template"]
    assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    # A pod label, not a selector label: adding it must not change the Deployment's selector.
    assert "azure.workload.identity/use" not in only(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    ingress = only(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] in {"webapprouting.kubernetes.azure.com", "nginx"}
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    data = only(objects, "ConfigMap")["data"]
    assert not [k for k in data if k.startswith("AWS_")] and data["RETAIL_MODE"] != "aws"
    assert "set-from-environment.env" not in yaml.safe_dump(objects)


# --- Releases: render.sh ----------------------------------------------------------------------------


def _render_release(*arguments: str, cwd: Path | None = None):
    kubectl()  # render.sh needs it
    return run(["bash", str(K8S / "render.sh"), "eks", *arguments], cwd=cwd or K8S)


def test_release_render_pins_the_image_digest_and_the_model_version():
    result = _render_release("--image", DIGEST_IMAGE, "--model-version", "20261125-214556-a344ef4f")
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    deployment = only(objects, "Deployment")
    assert api_container(objects)["image"] == DIGEST_IMAGE
    assert only(objects, "ConfigMap")["data"]["RETAIL_MODEL_VERSION"] == "20261125-214556-a344ef4f"
    assert deployment["metadata"]["annotations"]["retail-mlops.io/model-version"] == "20261125-214556-a344ef4f"
    # A new model version is a new ConfigMap name, so the pods roll onto it.
    default_name = only(rendered("overlays/eks"), "ConfigMap")["metadata"]["name"]
    assert only(objects, "ConfigMap")["metadata"]["name"] != default_name


def test_release_render_writes_a_directory_for_kubectl_apply_k(tmp_path):
    out = tmp_path / "release"
    result = _render_release("--image", DIGEST_IMAGE, "--model-version", "", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    built = run([kubectl(), "kustomize", str(out)])
    assert built.returncode == 0, built.stderr
    objects = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    assert api_container(objects)["image"] == DIGEST_IMAGE
    assert only(objects, "ConfigMap")["data"]["RETAIL_MODEL_VERSION"] == ""


def test_release_render_takes_the_accounts_environment(tmp_path):
    environment = tmp_path / "environment.env"
    text = (K8S / "overlays" / "eks" / "environment.env").read_text()
    environment.write_text(text.replace("111122223333", "444455556666"))
    result = _render_release("--environment", str(environment))
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert ":444455556666:" in only(objects, "ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert "111122223333" not in result.stdout


@pytest.mark.parametrize(
    "arguments",
    [["--image", "retail-api:latest"], ["--image", "repo@sha256:short"], ["--model-version", "v1; rm -rf /"], ["--bogus"]],
    ids=["tag-not-digest", "bad-digest", "yaml-injection", "unknown-flag"],
)
def test_release_render_refuses_what_would_not_be_a_release(arguments):
    result = _render_release(*arguments)
    assert result.returncode == 2, result.stdout
    assert not result.stdout.strip(), "nothing may be printed for kubectl apply to act on"


def test_release_render_does_not_touch_the_working_tree():
    before = {p: p.read_bytes() for p in K8S.rglob("*") if p.is_file()}
    assert _render_release("--image", DIGEST_IMAGE, "--model-version", "v2").returncode == 0
    after = {p: p.read_bytes() for p in K8S.rglob("*") if p.is_file()}
    assert before == after
