"""The Terraform in infra/: formatted, parseable, clean under checkov, and holding the properties
the platform relies on (region, budget, a protected lake, the alarms on the pipeline's metrics).

Nothing is planned or applied (`terraform init` cannot download providers here): the checks read
the configuration itself, with python-hcl2, and run checkov's static policies over it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.helpers.deploy_tools import DEPLOY, INFRA, load_hcl, require_tool, run, terraform_variable_default

PROD = INFRA / "envs" / "prod"
MODULES = INFRA / "modules"
TF_FILES = sorted(INFRA.rglob("*.tf"))


@cache
def resources(directory: Path) -> dict[tuple[str, str], dict]:
    """Every `resource "type" "name"` of a module directory, by (type, name)."""
    found = {}
    for path in sorted(directory.glob("*.tf")):
        for block in load_hcl(path).get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    found[(kind, name)] = body
    return found


def resource(directory: Path, kind: str, name: str) -> dict:
    found = resources(directory)
    assert (kind, name) in found, f"{directory.relative_to(INFRA)} has no {kind}.{name}"
    return found[(kind, name)]


def block(body: dict, name: str) -> dict:
    """A nested block (python-hcl2 gives a list of one dict per block)."""
    value = body[name]
    return value[0] if isinstance(value, list) else value


def module_call(name: str) -> dict:
    for path in sorted(PROD.glob("*.tf")):
        for entry in load_hcl(path).get("module", []):
            if name in entry:
                return entry[name]
    raise AssertionError(f"envs/prod does not call module {name!r}")


def prod_default(name: str):
    return terraform_variable_default(PROD / "variables.tf", name)


# --- Tools -----------------------------------------------------------------------------------------


def test_terraform_fmt_is_clean():
    terraform = require_tool("terraform", "install Terraform >= 1.11")
    result = run([terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)])
    assert result.returncode == 0, f"run `terraform fmt -recursive infra/`:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_tf_file_parses(path):
    assert isinstance(load_hcl(path), dict)


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    checkov = require_tool("checkov", "make tools (installs checkov into .venv-tools)")
    # --skip-download: no policy metadata from the Prisma Cloud API (offline, and deterministic).
    result = run([checkov, "--directory", str(INFRA), "--framework", "terraform", "--compact", "--skip-download",
                  "--output", "json"], timeout=300)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)], ids=["CI", "laptop"])
def test_a_missing_tool_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    """A green CI run must mean checkov (and every other tool) really ran."""
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(outcome, match="checkov-not-installed-here"):
        require_tool("checkov-not-installed-here", "make tools")


def test_checkov_finds_no_failed_check(checkov_report):
    summary = checkov_report["summary"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): {c['check_name']}"
              for c in checkov_report["results"]["failed_checks"]]
    assert summary["failed"] == 0, "checkov:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 400, f"checkov ran too few checks ({summary['passed']}): did it read the modules?"


def test_every_checkov_skip_is_inline_with_a_reason(checkov_report):
    for check in checkov_report["results"]["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason.split()) >= 6, f"{check['check_id']} on {check['resource']} is skipped without a real reason: {reason!r}"
    for path in TF_FILES:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_[A-Z0-9]+_\d+:\S.{20,}", line), f"{path}:{number}: {line.strip()}"


# --- Shape ------------------------------------------------------------------------------------------


def test_every_module_pins_its_providers():
    for directory in [PROD, *sorted(p for p in MODULES.iterdir() if p.is_dir())]:
        versions = directory / "versions.tf"
        assert versions.is_file(), f"{directory.relative_to(INFRA)} has no versions.tf"
        terraform = block(load_hcl(versions), "terraform")
        assert terraform["required_version"].startswith(">= 1.")
        providers = block(terraform, "required_providers")
        for name, spec in providers.items():
            assert spec["source"].startswith("hashicorp/"), f"{directory.name}: {name} from {spec['source']}"
            assert re.fullmatch(r"~> \d+\.\d+", spec["version"]), f"{directory.name}: {name} {spec['version']} is not pinned to a major line"
        used = {m.group(1) for path in directory.glob("*.tf") for m in re.finditer(r'(?:resource|data)\s+"(\w+?)_', path.read_text())}
        assert used <= set(providers) | {"terraform"}, f"{directory.name} uses providers it does not declare: {used - set(providers)}"


def test_state_lives_in_s3_with_locking_and_a_documented_bootstrap():
    backend = block(block(load_hcl(PROD / "versions.tf"), "terraform"), "backend")["s3"]
    assert backend["encrypt"] is True and backend["use_lockfile"] is True
    assert "bucket" not in backend, "the state bucket is per account: partial configuration from backend.hcl"
    assert re.search(r'^bucket\s*=', (PROD / "backend.hcl.example").read_text(), re.M)


def test_default_region_is_singapore_everywhere():
    region = prod_default("region")
    assert region == "ap-southeast-1"
    assert block(block(load_hcl(PROD / "versions.tf"), "terraform"), "backend")["s3"]["region"] == region
    zones = prod_default("availability_zones")
    assert len(zones) == 3 and all(zone.startswith(region) for zone in zones)
    environment = dict(line.split("=", 1) for line in (DEPLOY / "k8s/overlays/eks/environment.env").read_text().splitlines()
                       if line and not line.startswith("#"))
    assert environment["AWS_REGION"] == region
    assert f":{region}:" in environment["CERTIFICATE_ARN"], "the ALB's certificate must be in the ALB's region"


def test_monthly_budget_is_500_usd_with_actual_and_forecast_alerts():
    assert prod_default("monthly_budget_usd") == 500
    assert module_call("budget")["monthly_limit_usd"] == "${var.monthly_budget_usd}"
    budget = resource(MODULES / "budget", "aws_budgets_budget", "monthly")
    assert (budget["budget_type"], budget["limit_unit"], budget["time_unit"]) == ("COST", "USD", "MONTHLY")
    alerts = {(n["notification_type"], n["threshold"], n["threshold_type"]) for n in budget["notification"]}
    assert alerts == {("ACTUAL", 80, "PERCENTAGE"), ("FORECASTED", 100, "PERCENTAGE")}
    for notification in budget["notification"]:
        assert notification["subscriber_sns_topic_arns"], "budget alerts go to the alert topic"


def test_lake_bucket_is_versioned_encrypted_private_tls_only_and_logged():
    lake = MODULES / "lake"
    assert block(resource(lake, "aws_s3_bucket_versioning", "lake"), "versioning_configuration")["status"] == "Enabled"
    encryption = block(block(resource(lake, "aws_s3_bucket_server_side_encryption_configuration", "lake"), "rule"),
                       "apply_server_side_encryption_by_default")
    assert encryption["sse_algorithm"] == "aws:kms" and encryption["kms_master_key_id"] == "${aws_kms_key.lake.arn}"
    assert resource(lake, "aws_kms_key", "lake")["enable_key_rotation"] is True
    public = resource(lake, "aws_s3_bucket_public_access_block", "lake")
    assert all(public[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    assert block(resource(lake, "aws_s3_bucket_ownership_controls", "lake"), "rule")["object_ownership"] == "BucketOwnerEnforced"
    assert resource(lake, "aws_s3_bucket_logging", "lake")["target_bucket"] == "${var.access_log_bucket}"
    policy = (lake / "main.tf").read_text()
    assert re.search(r'effect\s*=\s*"Deny"[\s\S]*?aws:SecureTransport"[\s\S]*?values\s*=\s*\["false"\]', policy), "no TLS-only deny"
    rules = resource(lake, "aws_s3_bucket_lifecycle_configuration", "lake")["rule"]
    transitions = {t["storage_class"] for r in rules for t in r.get("transition", [])}
    assert "INTELLIGENT_TIERING" in transitions
    assert all(r.get("noncurrent_version_expiration") for r in rules), "old versions must expire, or versioning grows the bill forever"
    assert terraform_variable_default(lake / "variables.tf", "force_destroy") is False


def test_alarms_watch_the_pipelines_metrics_in_the_retailmlops_namespace():
    assert module_call("observability")["metric_namespace"] == "RetailMLOps"
    assert terraform_variable_default(MODULES / "iam" / "variables.tf", "metric_namespace") == "RetailMLOps"
    observability = MODULES / "observability"
    expressions = {}
    for (kind, name), body in resources(observability).items():
        if kind == "aws_cloudwatch_metric_alarm" and "metric_query" in body:
            expressions[name] = " ".join(q.get("expression", "") for q in body["metric_query"])
            assert body["alarm_actions"] == "${local.alarm_actions}", f"alarm {name} notifies nobody"
    expected = {
        "asset_check_failed": ("AssetCheckFailing", "Asset, Check, Severity"),
        "freshness_failed": ("FreshnessFailing", "Asset"),
        "run_failed": ("RunFailed", "Job"),
        "alerts_silent": ("AssetCheckFailing", "Asset, Check, Severity"),
    }
    for alarm, (metric, dimensions) in expected.items():
        assert any(f"{function}({metric})" in expressions[alarm] for function in ("SUM", "MAX", "COUNT")), expressions[alarm]
        assert f'SCHEMA("${{var.metric_namespace}}", {dimensions})' in expressions[alarm], expressions[alarm]
    latency = resource(observability, "aws_cloudwatch_metric_alarm", "api_latency_p95")
    assert (latency["namespace"], latency["metric_name"], latency["extended_statistic"]) == ("AWS/ApplicationELB", "TargetResponseTime", "p95")
    errors = resource(observability, "aws_cloudwatch_metric_alarm", "api_5xx_rate")
    assert "HTTPCode_Target_5XX_Count" in json.dumps(errors["metric_query"])
    topic = resource(observability, "aws_sns_topic", "alerts")
    assert topic["kms_master_key_id"] == "${var.logs_kms_key_arn}"
    assert resource(observability, "aws_sns_topic_subscription", "email")["protocol"] == "email"


def test_dashboard_template_renders_to_valid_json():
    template = (MODULES / "observability" / "dashboard.json").read_text()
    call = resource(MODULES / "observability", "aws_cloudwatch_dashboard", "this")["dashboard_body"]
    passed = set(re.findall(r"(\w+)\s*=", call.split("templatefile(", 1)[1]))
    used = set(re.findall(r"\$\{(\w+)\}", template))
    assert used <= passed, f"dashboard.json uses {used - passed}, which templatefile() does not pass"
    rendered = re.sub(r"\$\{(\w+)\}", lambda m: f"sample-{m.group(1)}", template)
    dashboard = json.loads(rendered)
    metrics = json.dumps(dashboard)
    for metric in ("AssetCheckFailed", "FreshnessFailing", "RunFailed", "TargetResponseTime", "HTTPCode_Target_5XX_Count",
                   "FeatureDriftPSI", "LiveMacroF1"):
        assert metric in metrics, f"the dashboard does not show {metric}"


def test_network_has_three_zones_one_nat_and_the_endpoints_the_pods_call():
    network = MODULES / "network"
    nat = resource(network, "aws_nat_gateway", "this")
    assert "count" not in nat and "for_each" not in nat, "one NAT gateway (the budget; infra/COST.md)"
    assert "One NAT gateway" in (network / "main.tf").read_text(), "the single NAT is a decision: say so where it is made"
    source = (network / "main.tf").read_text()
    for service in ("ecr.api", "ecr.dkr", "sts", "sagemaker.api"):
        assert f'"{service}"' in source, f"no interface endpoint for {service}"
    assert resource(network, "aws_vpc_endpoint", "s3")["vpc_endpoint_type"] == "Gateway"
    assert resource(network, "aws_flow_log", "this")["traffic_type"] == "ALL"


def test_cluster_encrypts_secrets_logs_the_control_plane_and_serves_irsa():
    eks = MODULES / "eks"
    cluster = resource(eks, "aws_eks_cluster", "this")
    assert block(cluster, "encryption_config")["resources"] == ["secrets"]
    assert set(cluster["enabled_cluster_log_types"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert resource(eks, "aws_iam_openid_connect_provider", "this")["client_id_list"] == ["sts.amazonaws.com"]
    assert resource(eks, "aws_eks_node_group", "default")["capacity_type"] == "${var.node_capacity_type}"
    assert resource(eks, "aws_eks_addon", "metrics_server")["addon_name"] == "metrics-server", "the HPA's CPU metric"
    addon = resource(MODULES / "observability", "aws_eks_addon", "cloudwatch_observability")
    assert addon["addon_name"] == "amazon-cloudwatch-observability" and addon["service_account_role_arn"]
    assert re.fullmatch(r"1\.\d+", prod_default("kubernetes_version"))


def test_images_are_immutable_scanned_and_encrypted():
    ecr = MODULES / "ecr"
    repository = resource(ecr, "aws_ecr_repository", "this")
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert block(repository, "image_scanning_configuration")["scan_on_push"] is True
    assert block(repository, "encryption_configuration")["encryption_type"] == "KMS"
    assert terraform_variable_default(ecr / "variables.tf", "repositories") == ["api", "dagster", "training"]
    assert "aws_ecr_lifecycle_policy" in {kind for kind, _ in resources(ecr)}


def test_dagster_database_is_private_encrypted_backed_up_and_protected():
    database = resource(MODULES / "database", "aws_db_instance", "this")
    assert database["publicly_accessible"] is False and database["storage_encrypted"] is True
    assert database["manage_master_user_password"] is True, "the password lives in Secrets Manager, never in state"
    assert terraform_variable_default(MODULES / "database" / "variables.tf", "backup_retention_days") >= 7
    assert database["deletion_protection"] == "${var.deletion_protection}"
    assert terraform_variable_default(MODULES / "database" / "variables.tf", "deletion_protection") is True
    assert database["skip_final_snapshot"] is False
    assert module_call("database")["deletion_protection"] == "${!var.teardown}"
    assert prod_default("teardown") is False


def test_cloudtrail_is_multi_region_validated_and_encrypted():
    trail = resource(MODULES / "audit", "aws_cloudtrail", "this")
    assert trail["is_multi_region_trail"] is True and trail["enable_log_file_validation"] is True
    assert trail["kms_key_id"] == "${aws_kms_key.logs.arn}"


def test_irsa_roles_trust_exactly_the_service_accounts_the_manifests_use():
    iam_variables = MODULES / "iam" / "variables.tf"
    objects = [doc for doc in yaml.safe_load_all((DEPLOY / "k8s/base/serviceaccount.yaml").read_text()) if doc]
    kustomization = yaml.safe_load((DEPLOY / "k8s/base/kustomization.yaml").read_text())
    assert terraform_variable_default(iam_variables, "api_service_account") == f"{kustomization['namespace']}/{objects[0]['metadata']['name']}"
    trust = (MODULES / "iam" / "main.tf").read_text()
    assert re.search(r'test\s*=\s*"StringEquals"\s*variable\s*=\s*"\$\{var\.oidc_issuer\}:sub"', trust), "IRSA trust must pin :sub"
    assert re.search(r'variable\s*=\s*"\$\{var\.oidc_issuer\}:aud"', trust), "IRSA trust must pin :aud"


def test_the_manifests_name_what_terraform_creates():
    """Names the two sides must agree on: the model group, the ALB the alarms watch, the deploy environment."""
    group = prod_default("model_package_group")
    base = (DEPLOY / "k8s/base/kustomization.yaml").read_text()
    assert f"RETAIL_MODEL_GROUP={group}" in base
    ingress = yaml.safe_load((DEPLOY / "k8s/overlays/eks/ingress.yaml").read_text())
    load_balancer = f"{prod_default('project')}-{prod_default('environment')}-api"
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/load-balancer-name"] == load_balancer
    assert 'api_load_balancer_name = "${local.name}-api"' in (PROD / "main.tf").read_text()
    deliver = yaml.safe_load((Path(DEPLOY.parent) / ".github/workflows/deliver.yml").read_text())
    environments = {job.get("environment", {}).get("name") if isinstance(job.get("environment"), dict) else job.get("environment")
                    for job in deliver["jobs"].values()}
    assert prod_default("github_environment") in environments, "the deploy role trusts an environment no job uses"


def _policy_statements(name: str) -> list[dict]:
    for entry in load_hcl(MODULES / "iam" / "main.tf").get("data", []):
        document = entry.get("aws_iam_policy_document", {}).get(name)
        if document:
            return document["statement"]
    raise AssertionError(f"iam module has no policy document {name!r}")


def test_api_role_reads_models_and_the_registry_and_writes_only_predictions():
    for statement in _policy_statements("api"):
        actions, resources_ = set(statement["actions"]), statement["resources"]
        assert statement.get("effect", "Allow") == "Allow"
        assert not {a for a in actions if re.search(r"Delete|Create|Update|PassRole|\*", a)}, f"the API may {actions}"
        if actions & {"s3:PutObject", "s3:AbortMultipartUpload"}:
            assert all(r.endswith("/predictions/*") for r in resources_), f"the API may write {resources_}"
        if any(a.startswith("sagemaker:") for a in actions):
            assert all(a.split(":")[1].startswith(("Describe", "List")) for a in actions)
        if "s3:GetObject" in actions:
            assert all(re.search(r"/(models|registry|predictions)/\*$", r) for r in resources_), resources_


def test_the_load_balancer_controller_is_installed_once_the_nodes_exist():
    """helm_release waits for the controller's pods; before the node group exists they stay Pending
    and the first apply times out. The release must refer to the node group (an ordering edge)."""
    edge = (INFRA / "modules" / "edge" / "main.tf").read_text()
    release = edge[edge.index('resource "helm_release" "lb_controller"'):]
    release = release[: release.index("\n}\n")]
    assert "var.node_group_name" in release
    outputs = {name: body for block in load_hcl(INFRA / "modules" / "eks" / "outputs.tf")["output"] for name, body in block.items()}
    assert "aws_eks_node_group.default" in outputs["node_group_name"]["value"]
    prod = {name: body for block in load_hcl(INFRA / "envs" / "prod" / "main.tf")["module"] for name, body in block.items()}
    assert prod["edge"]["node_group_name"] == "${module.eks.node_group_name}"


def test_sagemaker_jobs_run_on_spot_and_write_under_the_lakes_key():
    """The Dagster ConfigMap turns managed spot training on (what infra/COST.md prices) and gives
    the job the lake's key for its output, which the SageMaker role may use."""
    prod = {(kind, name): body for block in load_hcl(INFRA / "envs" / "prod" / "main.tf")["resource"] for kind, named in block.items() for name, body in named.items()}
    data = prod[("kubernetes_config_map_v1", "dagster_settings")]["data"]
    assert data["RETAIL_SAGEMAKER_SPOT"] == "${tostring(var.training_spot)}"
    assert terraform_variable_default(INFRA / "envs" / "prod" / "variables.tf", "training_spot") is True
    assert data["RETAIL_SAGEMAKER_OUTPUT_KMS_KEY_ID"] == "${module.lake.kms_key_arn}"
    iam = (INFRA / "modules" / "iam" / "main.tf").read_text()
    use_key = iam[iam.index('sid       = "UseTheLakeKey"'):][:200]
    assert "kms:GenerateDataKey" in use_key and "var.lake_kms_key_arn" in use_key
