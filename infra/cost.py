"""The monthly bill of infra/envs/prod, computed from the Terraform and the settings' defaults.

    .venv/bin/python infra/cost.py            # the table infra/COST.md shows
    .venv/bin/python infra/cost.py --check    # exit 1 when the estimate exceeds the budget variable

What is counted comes from the code: resources and their counts, zones, instance types and
sizes, endpoints, alarms, keys, retention (python-hcl2 over infra/), the API's replicas (the
HPA's minReplicas) and its prediction-log settings (retail_api.settings), managed spot training
(the ConfigMap Terraform writes). What is not in the code is declared below and printed with the
table: unit prices (AWS list prices, ap-southeast-1, USD) and usage (GB of logs, hours of
training), so a reader can check both.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import hcl2
import yaml

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
HOURS = 730  # a month
SECONDS = HOURS * 3600

# Unit prices, USD, ap-southeast-1 on-demand list prices (2025), before tax, no free tier.
PRICE = {
    "eks_cluster_hour": 0.10, "ec2_hour": {"t3.large": 0.1056, "t3.xlarge": 0.2112, "m5.large": 0.12},
    "ebs_gp3_gb": 0.096, "nat_hour": 0.059, "nat_gb": 0.059, "ipv4_hour": 0.005, "alb_hour": 0.0252, "lcu_hour": 0.008,
    "waf_acl": 5.0, "waf_rule": 1.0, "waf_million_requests": 0.60, "endpoint_az_hour": 0.013, "endpoint_gb": 0.01,
    "s3_gb": 0.025, "s3_put_1k": 0.005, "s3_get_1k": 0.0004, "logs_gb": 0.70, "logs_ia_gb": 0.35, "logs_stored_gb": 0.033,
    "metric": 0.30, "alarm": 0.10, "insights_alarm": 0.30, "dashboard": 3.0, "kms_key": 1.0,
    "rds_hour": {"db.t4g.micro": 0.026, "db.t4g.small": 0.052}, "rds_gb": 0.138, "secret": 0.40, "ecr_gb": 0.10,
    "sagemaker_hour": {"ml.m5.xlarge": 0.269, "ml.m5.large": 0.134}, "spot_share": 0.3, "transfer_gb": 0.01,
}  # fmt: skip
# Usage the code cannot say: a workload of weekly extracts, one retrain a week, a few requests per second.
USAGE = {
    "requests_million": 1.0,  # API requests a month (WAF, ALB)
    "nat_gb": 50, "endpoint_gb": 50, "transfer_gb": 50, "lcu": 1.0,
    "lake_gb": 60,  # lake incl. 30 days of old versions
    "log_buckets_gb": 20,
    "ecr_image_gb": {"api": 0.4, "dagster": 0.7, "training": 0.6},  # compressed, per tagged image
    "training_hours": 20,  # weekly retrains (30 min) plus experiments and backfills
    "custom_metrics": 50,  # RetailMLOps: one per Asset x Check x Severity, Asset, Job
    "container_insights": 20.0,
    "insights_gb": 5.0,  # Container Insights' performance data sent from the nodes  # enhanced observability, 2 nodes and ~35 pods, per observation (estimate)
    "rds_monitoring": 1.0,
    # CloudWatch Logs ingested per month, GB, by log group.
    "logs_gb": {"eks_control_plane": 25.0, "vpc_flow_logs": 6.0, "cloudtrail": 2.0, "containers": 5.0, "waf": 1.5, "rds": 1.0},
    "logs_stored_ratio": 0.3,  # CloudWatch stores logs compressed
    # Each append opens the table: the checkpoint plus the commits after it. delta-rs checkpoints
    # every 100 commits (its default delta.checkpointInterval), so ~50 GETs a commit on average.
    "delta_reads_per_commit": 50,
}


@dataclass(frozen=True)
class Line:
    item: str
    quantity: str
    unit: str
    dollars: float


@functools.cache  # python-hcl2 takes a while per file; the estimate reads each many times
def _hcl(path: Path) -> dict:
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    with path.open() as handle:
        return hcl2.load(handle, serialization_options=options)


def _default(path: Path, name: str):
    return next(block[name]["default"] for block in _hcl(path).get("variable", []) if name in block)


def _resources(module: str, kind: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for block in _hcl(INFRA / "modules" / module / "main.tf").get("resource", []):
        found.update(block.get(kind, {}))
    return found


def _all_resources(kind: str) -> int:
    return sum(len(_resources(module.name, kind)) for module in sorted((INFRA / "modules").iterdir()) if (module / "main.tf").is_file())


def _config_map(name: str) -> dict:
    for block in _hcl(INFRA / "envs" / "prod" / "main.tf")["resource"]:
        if name in block.get("kubernetes_config_map_v1", {}):
            return block["kubernetes_config_map_v1"][name]["data"]
    raise LookupError(f"infra/envs/prod/main.tf has no ConfigMap {name}")


def _eks_setting(name: str) -> str | None:
    """A literal of the API's settings ConfigMap in the EKS overlay (what prod runs), if set there."""
    overlay = yaml.safe_load((ROOT / "deploy" / "k8s" / "overlays" / "eks" / "kustomization.yaml").read_text())
    for generator in overlay.get("configMapGenerator", []):
        if generator["name"] == "retail-api-settings":
            for literal in generator.get("literals", []):
                key, _, value = literal.partition("=")
                if key == name:
                    return value
    return None


def inputs() -> dict:
    """Everything the estimate reads from the code, by name (printed as the assumptions)."""
    from retail_api.settings import Settings

    prod = INFRA / "envs" / "prod" / "variables.tf"
    fields = Settings.model_fields
    capture = fields["prediction_log_capture_percent"].default if "prediction_log_capture_percent" in fields else 100
    hpa = yaml.safe_load((ROOT / "deploy" / "k8s" / "base" / "hpa.yaml").read_text())
    (template,) = _resources("eks", "aws_launch_template").values()
    (flow_log,) = _resources("network", "aws_flow_log").values()
    (flow_group,) = _resources("network", "aws_cloudwatch_log_group").values()
    (acl,) = _resources("edge", "aws_wafv2_web_acl").values()
    spot = _config_map("dagster_settings")["RETAIL_SAGEMAKER_SPOT"]
    return {
        "budget": _default(prod, "monthly_budget_usd"),
        "zones": len(_default(prod, "availability_zones")),
        "node_type": _default(prod, "node_instance_types")[0],
        "node_capacity": _default(prod, "node_capacity_type"),
        "nodes": _default(INFRA / "modules" / "eks" / "variables.tf", "node_desired_size"),
        "node_volume_gb": template["block_device_mappings"][0]["ebs"][0]["volume_size"],
        "clusters": len(_resources("eks", "aws_eks_cluster")),
        "nat_gateways": len(_resources("network", "aws_nat_gateway")),
        "elastic_ips": len(_resources("network", "aws_eip")),
        "endpoints": _hcl(INFRA / "modules" / "network" / "main.tf")["locals"][0]["interface_services"],
        "endpoint_zones": _default(INFRA / "modules" / "network" / "variables.tf", "interface_endpoint_az_count"),
        "flow_traffic": flow_log["traffic_type"],
        "flow_log_class": flow_group.get("log_group_class", "STANDARD"),
        "waf_rules": len(acl["rule"]),
        "alarms": len(_all_alarms := _resources("observability", "aws_cloudwatch_metric_alarm")),
        "insights_alarms": sum("metric_query" in alarm for alarm in _all_alarms.values()),
        "dashboards": len(_resources("observability", "aws_cloudwatch_dashboard")),
        "kms_keys": _all_resources("aws_kms_key"),
        "trails": _all_resources("aws_cloudtrail"),
        "log_retention_days": _default(INFRA / "modules" / "eks" / "variables.tf", "log_retention_days"),
        "rds_class": _default(INFRA / "modules" / "database" / "variables.tf", "instance_class"),
        "rds_gb": _default(INFRA / "modules" / "database" / "variables.tf", "allocated_storage_gb"),
        "secrets": 1,  # RDS-managed master password (manage_master_user_password)
        "repositories": _default(INFRA / "modules" / "ecr" / "variables.tf", "repositories"),
        "images_kept": _default(INFRA / "modules" / "ecr" / "variables.tf", "keep_tagged_images"),
        "training_type": _default(prod, "training_instance_type"),
        "training_spot": spot == "${tostring(var.training_spot)}" and _default(prod, "training_spot") is True or spot == "true",
        "api_replicas": hpa["spec"]["minReplicas"],
        "log_flush_seconds": float(_eks_setting("RETAIL_PREDICTION_LOG_FLUSH_SECONDS") or fields["prediction_log_flush_seconds"].default),
        "capture_percent": float(_eks_setting("RETAIL_PREDICTION_LOG_CAPTURE_PERCENT") or capture),
    }


def estimate(given: dict) -> list[Line]:
    p, u = PRICE, USAGE
    nodes, node_hour = given["nodes"], p["ec2_hour"][given["node_type"]]
    endpoint_count = len(given["endpoints"]) * given["endpoint_zones"]
    # Container logs and Container Insights' data leave through the NAT when there is no endpoint.
    nat_gb = u["nat_gb"] + (0 if "logs" in given["endpoints"] else u["logs_gb"]["containers"] + u["insights_gb"])
    commits = given["api_replicas"] * SECONDS / given["log_flush_seconds"] if given["capture_percent"] > 0 else 0
    commit_dollars = commits * (2 * p["s3_put_1k"] + p["s3_put_1k"] + u["delta_reads_per_commit"] * p["s3_get_1k"]) / 1000
    logs = u["logs_gb"]
    flow_price = p["logs_ia_gb"] if given["flow_log_class"] == "INFREQUENT_ACCESS" else p["logs_gb"]
    ingest = (sum(logs.values()) - logs["vpc_flow_logs"]) * p["logs_gb"] + logs["vpc_flow_logs"] * flow_price
    # Stored: a year's retention fills up over the first year; its average is half a year of logs.
    stored_gb = sum(logs.values()) * min(given["log_retention_days"], 365) / 365 * 6 * u["logs_stored_ratio"]
    training_price = p["sagemaker_hour"][given["training_type"]] * (p["spot_share"] if given["training_spot"] else 1)
    ecr_gb = sum(u["ecr_image_gb"].get(r, 0.5) for r in given["repositories"]) * given["images_kept"]
    alarms = given["alarms"] - given["insights_alarms"]
    return [
        Line("EKS control plane (standard support)", f"{given['clusters']} × {HOURS} h", f"${p['eks_cluster_hour']}/h", given["clusters"] * HOURS * p["eks_cluster_hour"]),
        Line(f"EC2 nodes, {given['node_type']} {given['node_capacity'].lower()}", f"{nodes} × {HOURS} h", f"${node_hour}/h", nodes * HOURS * node_hour),
        Line("EBS gp3 node volumes", f"{nodes} × {given['node_volume_gb']} GB", f"${p['ebs_gp3_gb']}/GB", nodes * given["node_volume_gb"] * p["ebs_gp3_gb"]),
        Line("NAT gateway + data processed", f"{given['nat_gateways']} × {HOURS} h, {nat_gb:g} GB", f"${p['nat_hour']}/h, ${p['nat_gb']}/GB", given["nat_gateways"] * (HOURS * p["nat_hour"]) + nat_gb * p["nat_gb"]),
        Line("Public IPv4: NAT's Elastic IP + the ALB's (one per zone)", f"{given['elastic_ips'] + given['zones']} × {HOURS} h", f"${p['ipv4_hour']}/h", (given["elastic_ips"] + given["zones"]) * HOURS * p["ipv4_hour"]),
        Line("Application Load Balancer + LCUs", f"{HOURS} h, {u['lcu']} LCU", f"${p['alb_hour']}/h, ${p['lcu_hour']}/LCU-h", HOURS * (p["alb_hour"] + u["lcu"] * p["lcu_hour"])),
        Line(f"WAF web ACL, {given['waf_rules']} rules, requests", f"1 + {given['waf_rules']}, {u['requests_million']} M req", f"${p['waf_acl']} + ${p['waf_rule']}/rule + ${p['waf_million_requests']}/M", p["waf_acl"] + given["waf_rules"] * p["waf_rule"] + u["requests_million"] * p["waf_million_requests"]),
        Line(f"Interface endpoints: {', '.join(given['endpoints'])}", f"{endpoint_count} × {HOURS} h, {u['endpoint_gb']} GB", f"${p['endpoint_az_hour']}/h, ${p['endpoint_gb']}/GB", endpoint_count * HOURS * p["endpoint_az_hour"] + u["endpoint_gb"] * p["endpoint_gb"]),
        Line("S3: lake + log buckets storage", f"{u['lake_gb'] + u['log_buckets_gb']} GB", f"${p['s3_gb']}/GB", (u["lake_gb"] + u["log_buckets_gb"]) * p["s3_gb"]),
        Line(f"S3 requests of the prediction log ({given['api_replicas']} replicas, a commit every {given['log_flush_seconds']:g} s, {given['capture_percent']}% captured)",
             f"{commits / 1e6:.2f} M commits", f"3 PUT/LIST + {u['delta_reads_per_commit']} GET each", commit_dollars),
        Line(f"CloudWatch Logs ingestion ({', '.join(f'{k} {v:g}' for k, v in logs.items())} GB; flow logs {given['flow_traffic']}, {given['flow_log_class']})",
             f"{sum(logs.values()):g} GB", f"${p['logs_gb']}/GB (IA ${p['logs_ia_gb']})", ingest),
        Line(f"CloudWatch Logs storage ({given['log_retention_days']}-day retention, first-year average, compressed)", f"{stored_gb:.0f} GB", f"${p['logs_stored_gb']}/GB", stored_gb * p["logs_stored_gb"]),
        Line("Container Insights, enhanced observability", "2 nodes, ~35 pods", "per observation", u["container_insights"]),
        Line("Custom metrics (RetailMLOps)", f"{u['custom_metrics']}", f"${p['metric']}/metric", u["custom_metrics"] * p["metric"]),
        Line(f"Alarms ({given['insights_alarms']} with metric queries) and dashboards", f"{given['alarms']} + {given['dashboards']}", f"${p['alarm']}–{p['insights_alarm']}/alarm, ${p['dashboard']}/dashboard",
             alarms * p["alarm"] + given["insights_alarms"] * p["insights_alarm"] + given["dashboards"] * p["dashboard"]),
        Line("CloudTrail: management events, first copy (multi-region trail)", f"{given['trails']}", "free", 0.0),
        Line("KMS customer-managed keys", f"{given['kms_keys']}", f"${p['kms_key']}/key", given["kms_keys"] * p["kms_key"]),
        Line(f"RDS PostgreSQL {given['rds_class']} Single-AZ + gp3 + monitoring", f"{HOURS} h, {given['rds_gb']} GB", f"${p['rds_hour'][given['rds_class']]}/h, ${p['rds_gb']}/GB",
             HOURS * p["rds_hour"][given["rds_class"]] + given["rds_gb"] * p["rds_gb"] + u["rds_monitoring"]),
        Line("Secrets Manager", f"{given['secrets']}", f"${p['secret']}/secret", given["secrets"] * p["secret"]),
        Line(f"ECR: {given['images_kept']} tagged images × {len(given['repositories'])} repositories", f"{ecr_gb:.0f} GB", f"${p['ecr_gb']}/GB", ecr_gb * p["ecr_gb"]),
        Line(f"SageMaker training {given['training_type']}, {'managed spot' if given['training_spot'] else 'on demand'}", f"{u['training_hours']} h", f"${training_price:.3f}/h", u["training_hours"] * training_price),
        Line("Data transfer (cross-zone, out)", f"{u['transfer_gb']} GB", f"${p['transfer_gb']}/GB", u["transfer_gb"] * p["transfer_gb"]),
    ]  # fmt: skip


def report(given: dict, lines: list[Line]) -> str:
    total = sum(line.dollars for line in lines)
    rows = ["| # | Item | Quantity | Unit price | $/month |", "|---|------|----------|------------|--------:|"]
    rows += [f"| {n} | {line.item} | {line.quantity} | {line.unit} | {line.dollars:.2f} |" for n, line in enumerate(lines, 1)]
    rows.append(f"| | **Total** | | | **{total:.2f}** |")
    margin = given["budget"] - total
    rows.append("")
    rows.append(f"Budget (monthly_budget_usd): ${given['budget']:.2f}; estimate ${total:.2f} = {100 * total / given['budget']:.0f}% of it, margin ${margin:.2f}.")
    rows.append("")
    rows.append("Read from the code: " + "; ".join(f"{k}={v}" for k, v in given.items() if k != "endpoints") + ".")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the estimate exceeds the budget")
    args = parser.parse_args(argv)
    given = inputs()
    lines = estimate(given)
    print(report(given, lines))
    total = sum(line.dollars for line in lines)
    if args.check and total > given["budget"]:
        print(f"over budget: ${total:.2f} > ${given['budget']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
