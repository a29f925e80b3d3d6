"""What a run pod actually gets: the run launcher's settings merged with the code location's
container context by dagster-k8s itself (`K8sContainerContext.create_for_run`, what
`K8sRunLauncher.launch_run` calls), from the real deploy/dagster/values.yaml.

The chart is not rendered (no helm here): `code_location_container_context` builds the JSON the
chart's `dagsterUserDeployments.k8sContainerContext` helper puts into the code server's
`DAGSTER_CONTAINER_CONTEXT` when `includeConfigInLaunchedRuns` is on (same keys, same
conditions), and `run_launcher` builds the K8sRunLauncher from the keys the chart's instance
ConfigMap maps `runLauncher.config.k8sRunLauncher` to. No cluster is contacted: the launcher is
given a kubeconfig that points at nothing, which it only parses.
"""

from __future__ import annotations

import pytest
import yaml
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.dagster_run import DagsterRun
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext

from tests.helpers.deploy_tools import DEPLOY, INFRA, load_hcl

VALUES = yaml.safe_load((DEPLOY / "dagster" / "values.yaml").read_text())
CODE_LOCATION = VALUES["dagster-user-deployments"]["deployments"][0]
LAUNCHER = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
NAMESPACE = "dagster"


def code_location_container_context() -> dict:
    """What the chart's k8sContainerContext helper writes for this code location."""
    k8s = {
        "image_pull_policy": CODE_LOCATION["image"]["pullPolicy"],
        "env_config_maps": [f"dagster-dagster-user-deployments-{CODE_LOCATION['name']}-user-env"]
        + [c["name"] for c in CODE_LOCATION.get("envConfigMaps", []) if "name" in c],
        "namespace": NAMESPACE,
        "service_account_name": VALUES["global"]["serviceAccountName"],
    }
    if CODE_LOCATION.get("envSecrets"):
        k8s["env_secrets"] = [s["name"] for s in CODE_LOCATION["envSecrets"] if "name" in s]
    for chart_key, context_key in (("volumeMounts", "volume_mounts"), ("volumes", "volumes"), ("labels", "labels"), ("resources", "resources")):
        if CODE_LOCATION.get(chart_key):
            k8s[context_key] = CODE_LOCATION[chart_key]
    return {"k8s": k8s}


def run_launcher(tmp_path) -> K8sRunLauncher:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "users": [{"name": "none", "user": {}}],
    }))  # fmt: skip
    run_config = LAUNCHER.get("runK8sConfig", {})
    return K8sRunLauncher(
        service_account_name=VALUES["global"]["serviceAccountName"],
        instance_config_map="dagster-instance",
        dagster_home="/opt/dagster/dagster_home",  # the chart's dagsterHome default
        postgres_password_secret=VALUES["global"]["postgresqlSecretName"],
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
        job_namespace=LAUNCHER.get("jobNamespace") or NAMESPACE,
        image_pull_policy=LAUNCHER.get("imagePullPolicy"),
        env_config_maps=["dagster-pipeline-env"] + [c["name"] for c in LAUNCHER.get("envConfigMaps", [])],
        resources=LAUNCHER.get("resources"),
        security_context=LAUNCHER.get("securityContext"),
        run_k8s_config={
            "pod_spec_config": run_config.get("podSpecConfig", {}),
            "job_spec_config": run_config.get("jobSpecConfig", {}),
            "container_config": run_config.get("containerConfig", {}),
        },
    )


def launched_run() -> DagsterRun:
    """A run as the daemon launches it: its code origin carries the code server's container context."""
    repository = RepositoryPythonOrigin(
        executable_path="/usr/local/bin/python",
        code_pointer=ModuleCodePointer("retail_assets.definitions", "defs", working_directory=None),
        container_image=f"{CODE_LOCATION['image']['repository']}:{CODE_LOCATION['image']['tag']}",
        container_context=code_location_container_context() if CODE_LOCATION["includeConfigInLaunchedRuns"]["enabled"] else None,
    )
    return DagsterRun(job_name="__ASSET_JOB", run_id="0" * 8, job_code_origin=JobPythonOrigin("__ASSET_JOB", repository))


@pytest.fixture
def run_pod(tmp_path) -> dict:
    context = K8sContainerContext.create_for_run(launched_run(), run_launcher(tmp_path), include_run_tags=True)
    return context.run_k8s_config.to_dict()


def test_run_pods_get_the_run_launchers_resources(run_pod):
    """Feature builds hold weeks of baskets in memory: the run launcher's limit is the one that must apply."""
    assert run_pod["container_config"]["resources"] == LAUNCHER["resources"]


def test_run_pods_keep_the_code_locations_settings_and_identity(run_pod):
    """Turning the code location's resources off must not cost the runs its settings or its role."""
    config_maps = [source["config_map_ref"]["name"] for source in run_pod["container_config"].get("env_from", [])]
    assert "retail-dagster-settings" in config_maps, "runs read the settings Terraform writes"
    assert any(name.endswith(f"{CODE_LOCATION['name']}-user-env") for name in config_maps), "RETAIL_SAGEMAKER_IMAGE_URI reaches the runs"
    assert run_pod["pod_spec_config"]["service_account_name"] == "dagster"
    assert run_pod["pod_spec_config"]["security_context"]["run_as_non_root"] is True


def test_the_code_server_gets_its_resources_from_the_namespaces_limit_range():
    """With no `resources` on the code location (so runs keep the launcher's), the dagster
    namespace's LimitRange gives the code server its request and limit."""
    assert not CODE_LOCATION.get("resources"), "code location resources are copied into every run and win over the launcher's"
    ranges = [b["kubernetes_limit_range_v1"] for b in load_hcl(INFRA / "envs" / "prod" / "main.tf").get("resource", []) if "kubernetes_limit_range_v1" in b]
    (limit_range,) = [r for rs in ranges for r in rs.values()]
    spec = limit_range["spec"][0] if isinstance(limit_range["spec"], list) else limit_range["spec"]
    limit = spec["limit"][0] if isinstance(spec["limit"], list) else spec["limit"]
    assert limit["type"] == "Container"
    assert limit["default_request"]["memory"] and limit["default"]["memory"], "the code server must not run BestEffort"
    assert "dagster" in str(limit_range["metadata"])
