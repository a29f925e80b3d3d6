"""Dagster on EKS: the Helm values run this project's code location the way the chart expects.

The keys are the official chart's (helm/dagster/values.yaml and values.schema.json of
dagster-io/dagster at the 1.13 line); the chart itself is not rendered here (no helm, no
network), so these tests pin the settings the deployment depends on and catch misspelt keys,
which Helm would otherwise ignore without a word.
"""

from __future__ import annotations

import re

import pytest
import yaml

from retail_assets.event_volume import FEWER_EVENTS
from tests.helpers.deploy_tools import DEPLOY, INFRA, load_hcl, pyproject_pins, terraform_variable_default

VALUES_PATH = DEPLOY / "dagster" / "values.yaml"
PROD_MAIN = INFRA / "envs" / "prod" / "main.tf"

# Top-level keys of the chart's values.schema.json; anything else is a typo Helm would ignore.
CHART_TOP_LEVEL_KEYS = {
    "dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
    "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate",
    "telemetry", "serviceAccount", "global", "retention", "additionalInstanceConfig",
}
USER_DEPLOYMENT_KEYS = {
    "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns", "deploymentNamespace",
    "port", "env", "envConfigMaps", "envSecrets", "annotations", "nodeSelector", "affinity", "tolerations",
    "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe",
    "labels", "volumeMounts", "volumes", "schedulerName", "initContainers", "sidecarContainers",
}
K8S_RUN_LAUNCHER_KEYS = {
    "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
    "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
    "schedulerName", "securityContext", "runK8sConfig",
}


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES_PATH.read_text())


@pytest.fixture(scope="module")
def code_location(values) -> dict:
    deployments = values["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1
    return deployments[0]


def _terraform_resource(kind: str, name: str) -> dict:
    for block in load_hcl(PROD_MAIN).get("resource", []):
        if kind in block and name in block[kind]:
            return block[kind][name]
    raise AssertionError(f"infra/envs/prod/main.tf has no {kind}.{name}")


def _metadata_name(resource: dict) -> str:
    metadata = resource["metadata"]
    return (metadata[0] if isinstance(metadata, list) else metadata)["name"]


def test_only_keys_the_chart_knows(values, code_location):
    assert set(values) <= CHART_TOP_LEVEL_KEYS, f"unknown chart keys: {sorted(set(values) - CHART_TOP_LEVEL_KEYS)}"
    assert set(code_location) <= USER_DEPLOYMENT_KEYS, f"unknown user-deployment keys: {sorted(set(code_location) - USER_DEPLOYMENT_KEYS)}"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert set(launcher) <= K8S_RUN_LAUNCHER_KEYS, f"unknown K8sRunLauncher keys: {sorted(set(launcher) - K8S_RUN_LAUNCHER_KEYS)}"


def test_chart_version_is_the_dagster_pin():
    """The chart and the dagster library are released together; a mismatch breaks the instance schema."""
    pinned = pyproject_pins()["dagster"]
    versions = set(re.findall(r"--version\s+(\S+)", VALUES_PATH.read_text()))
    assert versions == {pinned}, f"values.yaml installs chart {versions}, pyproject.toml pins dagster=={pinned}"
    assert f"chart version {pinned}" in VALUES_PATH.read_text()


def test_code_location_serves_retail_assets_definitions(values, code_location):
    assert values["dagster-user-deployments"]["enabled"] is True
    arguments = code_location.get("codeServerArgs") or code_location.get("dagsterApiGrpcArgs")
    assert arguments == ["-m", "retail_assets.definitions"]
    dockerfile = (DEPLOY / "docker" / "dagster.Dockerfile").read_text()
    assert f"EXPOSE {code_location['port']}" in dockerfile, "the chart's port differs from the image's"
    image = code_location["image"]
    assert image["repository"].endswith("/retail-mlops/dagster")
    assert image["tag"] not in ("", "latest"), "ECR tags are immutable; runs need a unique tag per build"
    # Runs started from this location get its settings and service account (the IRSA role).
    assert code_location["includeConfigInLaunchedRuns"]["enabled"] is True


def test_runs_are_pods_launched_by_the_k8s_run_launcher(values):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["loadInclusterConfig"] is True
    pod = launcher["runK8sConfig"]["podSpecConfig"]["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 10000
    assert launcher["securityContext"]["allowPrivilegeEscalation"] is False
    assert launcher["resources"]["limits"]["memory"], "a run that leaks memory must not starve the node"


def test_postgres_is_external_and_its_password_comes_from_an_existing_secret(values):
    assert values["postgresql"]["enabled"] is False, "runs and events live in RDS, not a pod"
    assert values["generatePostgresqlPasswordSecret"] is False, "the chart must not mint a password into the release"
    assert values["global"]["postgresqlSecretName"]
    assert "postgresqlPassword" not in values["postgresql"], "a password in values.yaml would sit in Git and in Helm's release"
    assert values["postgresql"]["postgresqlParams"]["sslmode"] in {"require", "verify-full"}
    assert values["postgresql"]["postgresqlDatabase"] == "dagster"
    database = (INFRA / "modules" / "database" / "main.tf").read_text()
    assert 'db_name                       = "dagster"' in database and 'username                      = "dagster"' in database
    assert values["postgresql"]["postgresqlUsername"] == "dagster"


def test_the_database_driver_the_instance_names_is_in_the_image(values):
    """SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the image ships dagster-postgres's psycopg2.
    Without the scheme every Dagster process fails to connect (tests/e2e/test_dagster_platform.py runs it)."""
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    lock = (DEPLOY / "docker" / "dagster-requirements.lock").read_text()
    assert re.search(r"^psycopg2-binary==", lock, re.MULTILINE) and not re.search(r"^psycopg(\[.*\])?==", lock, re.MULTILINE)


def test_daemon_runs_schedules_sensors_and_the_run_queue(values):
    daemon = values["dagsterDaemon"]
    assert daemon["enabled"] is True
    assert daemon["runCoordinator"]["enabled"] is True
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert daemon["runMonitoring"]["enabled"] is True


def test_every_dagster_pod_reads_the_settings_configmap_terraform_creates(values, code_location):
    config_map = _terraform_resource("kubernetes_config_map_v1", "dagster_settings")
    name = _metadata_name(config_map)
    for where, config_maps in {
        "code location": code_location["envConfigMaps"],
        "run pods": values["runLauncher"]["config"]["k8sRunLauncher"]["envConfigMaps"],
        "webserver": values["dagsterWebserver"]["envConfigMaps"],
        "daemon": values["dagsterDaemon"]["envConfigMaps"],
    }.items():
        assert {"name": name} in config_maps, f"{where} does not read {name}"
    data = config_map["data"]
    data = data[0] if isinstance(data, list) else data
    for setting in ("RETAIL_MODE", "RETAIL_LAKE", "RETAIL_TRAINING", "RETAIL_REGISTRY", "RETAIL_RELEASE", "RETAIL_ALERTS",
                    "RETAIL_MODEL_GROUP", "AWS_DEFAULT_REGION", "RETAIL_SAGEMAKER_ROLE_ARN"):
        assert setting in data, f"retail-dagster-settings lacks {setting}"
    assert data["RETAIL_MODE"] == "aws"
    assert (data["RETAIL_TRAINING"], data["RETAIL_RELEASE"], data["RETAIL_ALERTS"]) == ("sagemaker", "eks", "cloudwatch")
    # The cluster writes as few events per run as `retail-mlops materialize` does (the same switches).
    assert {name: data.get(name) for name in FEWER_EVENTS} == FEWER_EVENTS


def test_one_irsa_service_account_for_every_dagster_pod(values):
    """The IAM trust names namespace/service account exactly; any other name gets no AWS access."""
    account = values["global"]["serviceAccountName"]
    assert values["serviceAccount"]["create"] is True
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"])
    namespace = _metadata_name(_terraform_resource("kubernetes_namespace_v1", "dagster"))
    trusted = terraform_variable_default(INFRA / "modules" / "iam" / "variables.tf", "dagster_service_account")
    assert trusted == f"{namespace}/{account}"
    assert f"--namespace {namespace}" in VALUES_PATH.read_text()


def test_compute_logs_go_where_the_dagster_role_may_write(values):
    manager = values["computeLogManager"]
    assert manager["type"] == "S3ComputeLogManager"
    prefix = manager["config"]["s3ComputeLogManager"]["prefix"]
    iam = (INFRA / "modules" / "iam" / "main.tf").read_text()
    assert f'"{prefix.split("/")[0]}/*"' in iam, f"the Dagster role may not list or write {prefix}/"


def test_celery_and_the_bundled_databases_are_off(values):
    assert values["rabbitmq"]["enabled"] is False and values["redis"]["enabled"] is False
    assert values["flower"]["enabled"] is False
    assert values["ingress"]["enabled"] is False, "the UI is reached by port-forward, never exposed"
