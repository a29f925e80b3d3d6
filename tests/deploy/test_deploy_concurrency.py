"""The delivery deploy and the Dagster release never revert each other.

deploy/k8s/deploy.sh (what the delivery workflow runs) reads the Deployment once and writes with
that read's resourceVersion as a precondition; the Dagster release does the same
(retail_assets/release/manifests.py puts the resourceVersion in its patch). The script runs for
real here, with the real render.sh and kustomize; the API server's side is played by
tests/helpers/fake_kubectl.py, which models the documented optimistic concurrency (a stale
resourceVersion is a 409 Conflict), and the release landing in between is made with the release's
own code. A real cluster cannot run here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers.deploy_tools import DEPLOY, ROOT, WORKFLOWS, require_tool, run

IMAGE = "111122223333.dkr.ecr.ap-southeast-1.amazonaws.com/retail-mlops/api@sha256:" + "a" * 64
NEW_IMAGE = IMAGE[:-64] + "b" * 64
DEPLOY_SH = DEPLOY / "k8s" / "deploy.sh"
RENDER_SH = DEPLOY / "k8s" / "render.sh"
ENVIRONMENT = DEPLOY / "k8s" / "overlays" / "eks" / "environment.env"


@pytest.fixture
def cluster(tmp_path) -> dict:
    """A PATH whose `kubectl` is the fake API server, with v1 deployed by the workflow's render."""
    real = require_tool("kubectl", "install kubectl (it embeds kustomize)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests' / 'helpers' / 'fake_kubectl.py'} \"$@\"\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "REAL_KUBECTL": real,
           "FAKE_CLUSTER": str(tmp_path / "cluster.json"), "PYTHONPATH": str(ROOT)}  # fmt: skip
    first = run([str(RENDER_SH), "eks", "--image", IMAGE, "--model-version", "v1", "--out", str(tmp_path / "first")], env=env)
    assert first.returncode == 0, first.stderr
    applied = run(["kubectl", "apply", "-k", str(tmp_path / "first")], env=env)
    assert applied.returncode == 0, applied.stderr
    return env


def state(env: dict) -> dict:
    return json.loads(Path(env["FAKE_CLUSTER"]).read_text())


def serving(env: dict) -> tuple[str, str, str]:
    """(image, annotated model version, RETAIL_MODEL_VERSION of the ConfigMap the pods read)."""
    objects = state(env)["objects"]
    deployment = objects["Deployment/retail/retail-api"]
    (api,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "api"]
    (config_map,) = [s["configMapRef"]["name"] for s in api["envFrom"] if s.get("configMapRef", {}).get("name", "").startswith("retail-api-settings-")]
    setting = objects[f"ConfigMap/retail/{config_map}"]["data"]["RETAIL_MODEL_VERSION"]
    return api["image"], deployment["metadata"]["annotations"]["retail-mlops.io/model-version"], setting


def deploy(env: dict, *extra: str, **overrides: str):
    return run(["bash", str(DEPLOY_SH), "--image", NEW_IMAGE, "--environment", str(ENVIRONMENT), *extra], env={**env, **overrides})


def test_a_deploy_changes_the_image_and_keeps_the_released_model(cluster):
    result = deploy(cluster)
    assert result.returncode == 0, result.stderr
    assert serving(cluster) == (NEW_IMAGE, "v1", "v1")
    assert "keeping model version 'v1' (attempt 1)" in result.stdout


def test_a_release_between_the_deploys_read_and_write_is_kept(cluster):
    """v2 is released after deploy.sh read v1 and before it applies: its write is refused (409),
    it reads again and deploys its image with v2."""
    result = deploy(cluster, FAKE_RELEASE_BEFORE_APPLY=",v2")
    assert result.returncode == 0, result.stderr
    assert "changed after it was read" in result.stderr
    assert serving(cluster) == (NEW_IMAGE, "v2", "v2"), "the deploy reverted the release"
    assert "keeping model version 'v2' (attempt 2)" in result.stdout


def test_without_the_precondition_the_same_interleaving_reverts_the_release(cluster, tmp_path):
    """The old workflow (read the version, render, apply; no precondition) under the same
    interleaving: the fake lets the stale write through and v1 comes back. This is the defect the
    rule prevents, and shows the fake would catch a deploy script that lost its precondition."""
    stale = run([str(RENDER_SH), "eks", "--image", NEW_IMAGE, "--model-version", "v1", "--out", str(tmp_path / "stale")], env=cluster)
    assert stale.returncode == 0, stale.stderr
    applied = run(["kubectl", "apply", "-k", str(tmp_path / "stale")], env={**cluster, "FAKE_RELEASE_BEFORE_APPLY": ",v2"})
    assert applied.returncode == 0, applied.stderr
    assert "release v2" in state(cluster)["log"]
    assert serving(cluster) == (NEW_IMAGE, "v1", "v1")


def test_a_deploy_that_keeps_losing_gives_up_without_writing(cluster):
    before = serving(cluster)
    result = deploy(cluster, "--attempts", "2", FAKE_RELEASE_BEFORE_APPLY=",v2,v3")
    assert result.returncode == 1
    assert "kept changing under 2 attempts; nothing was reverted" in result.stderr
    image, annotated, setting = serving(cluster)
    assert (image, annotated, setting) == (before[0], "v3", "v3"), "the last release stands, the old image still runs"


def test_the_first_deploy_creates_the_deployment(tmp_path):
    real = require_tool("kubectl", "install kubectl (it embeds kustomize)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests' / 'helpers' / 'fake_kubectl.py'} \"$@\"\n")
    (bin_dir / "kubectl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "REAL_KUBECTL": real,
           "FAKE_CLUSTER": str(tmp_path / "cluster.json"), "PYTHONPATH": str(ROOT)}  # fmt: skip
    result = deploy(env)
    assert result.returncode == 0, result.stderr
    assert serving(env) == (NEW_IMAGE, "", "")
    assert "keeping model version 'latest Approved'" in result.stdout


def test_the_delivery_workflow_deploys_through_the_script():
    text = (WORKFLOWS / "deliver.yml").read_text()
    assert 'deploy/k8s/deploy.sh --image "$image" --environment' in text
    assert "kubectl apply" not in text, "a second path that writes the Deployment without the precondition"
