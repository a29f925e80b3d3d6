"""The EKS release's counterpart in the tests: deploy/k8s rendered and applied to a `LocalCluster`.

The pods are real `retail_api` processes on moto's server (S3 lake, SageMaker Model Registry),
with the ConfigMap the EKS overlay renders for Terraform's environment file; only the lake and the
region in that file are the test's own (each test its own region, so the model package group the
overlay names, price-sensitivity, is that test's alone on the shared moto server).
"""

from __future__ import annotations

import base64
import itertools
import json
import urllib.request
from pathlib import Path

import yaml
from tests.helpers.deploy_tools import DEPLOY, require_tool, run

from retail_assets.release.local_cluster import LocalCluster

IMAGE = "111122223333.dkr.ecr.ap-southeast-1.amazonaws.com/retail-mlops/api@sha256:" + "a" * 64
NEW_IMAGE = IMAGE[:-64] + "b" * 64
API_KEY = "0123456789abcdef"
NAMESPACE, NAME = "retail", "retail-api"
GROUP = "price-sensitivity"  # RETAIL_MODEL_GROUP in deploy/k8s/base
# moto's SageMaker keeps model package groups per region: one region per test isolates the group.
_REGIONS = itertools.cycle(["eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "ap-southeast-2", "ap-northeast-1",
                            "ap-northeast-2", "ap-south-1", "us-west-1", "us-west-2", "us-east-2", "ca-central-1", "sa-east-1"])


def next_region() -> str:
    return next(_REGIONS)


def environment_file(directory: Path, lake_uri: str, region: str) -> Path:
    """The overlay's environment.env as Terraform writes it, for the test's lake and region."""
    lines = (DEPLOY / "k8s" / "overlays" / "eks" / "environment.env").read_text().splitlines()
    values = {"LAKE_URI": lake_uri, "AWS_REGION": region}
    path = directory / "environment.env"
    path.write_text("\n".join(f"{line.split('=')[0]}={values[line.split('=')[0]]}" if line.split("=")[0] in values else line
                              for line in lines) + "\n")
    return path


def render(model_version: str, image: str = IMAGE, environment: Path | None = None) -> list[dict]:
    kubectl_found = require_tool("kubectl", "install kubectl (it carries kustomize)")
    assert kubectl_found
    command = [str(DEPLOY / "k8s" / "render.sh"), "eks", "--image", image, "--model-version", model_version]
    done = run(command + (["--environment", str(environment)] if environment else []))
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def api_key_secret() -> dict:
    """The Secret created out of band (docs/deploy.md), which the Deployment's RETAIL_API_KEY references."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "retail-api-key", "namespace": NAMESPACE},
            "data": {"api-key": base64.b64encode(API_KEY.encode()).decode()}}


def ready_pods(cluster: LocalCluster) -> list[dict]:
    return [pod for pod in cluster.pods(NAMESPACE) if "deletionTimestamp" not in pod["metadata"]
            and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))]


def served_by_pod(pod: dict) -> str | None:
    """The model version one pod answers with (its /readyz), asked directly, not through the Service."""
    port = pod["metadata"]["annotations"]["local-cluster/port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as answer:
        return json.loads(answer.read())["model_version"]


def pinned(cluster: LocalCluster) -> str:
    """RETAIL_MODEL_VERSION in the ConfigMap the Deployment's pod template takes its settings from."""
    deployment = cluster.deployment(NAMESPACE, NAME)
    name = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
    return cluster.store.get("ConfigMap", NAMESPACE, name)["data"]["RETAIL_MODEL_VERSION"]
