# Where problems surface: an encrypted SNS topic (e-mail), CloudWatch alarms on the project's own
# metrics (namespace RetailMLOps, written by the Dagster AlertSink) and on the API's ALB, the
# dashboard defined in dashboard.json, and container logs shipped to CloudWatch Logs by the
# amazon-cloudwatch-observability add-on (Container Insights + Fluent Bit) into log groups created
# here, so they are encrypted and expire.
#
# The project's metrics (the AlertSink contract):
#   AssetCheckFailed   dimensions Asset, Check, Severity  event: 1 per failed check evaluation, 0 per recovery
#   AssetCheckFailing  dimensions Asset, Check, Severity  state: 1 while the check fails, else 0, every tick (30 s)
#   FreshnessFailed    dimension  Asset                   event: 1 when an asset misses its freshness policy, 0 when fresh again
#   FreshnessFailing   dimension  Asset                   state: 1 while the asset misses its policy, else 0, every tick (60 s)
#   RunFailed          dimension  Job                     event: 1 per failed run
#   FeatureDriftPSI    dimension  Feature                 daily PSI, serving vs training (dashboard)
#   LiveMacroF1        no dimension                       daily live macro-F1 of the served model (dashboard)
# The state alarms watch the state gauges with MAX and ignore missing data: ALARM exactly while
# something fails, OK (with a notification) only when it recovers; a sink or daemon outage keeps
# the state instead of clearing it. Drift and accuracy breaches alarm through AssetCheckFailing
# (Asset feature_drift / live_accuracy), for as long as the check stays failed.
# retail-mlops alarms sync (retail_assets/alerts/alarms.py) defines the same three pipeline
# alarms for accounts without this Terraform; tests/pipeline/monitoring/test_alerts_cloudwatch.py keeps them equal.
# The alarms aggregate over all dimension values with Metrics Insights queries, so a new asset
# or check is covered without a Terraform change.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id           = data.aws_caller_identity.current.account_id
  region               = data.aws_region.current.region
  alarm_actions        = [aws_sns_topic.alerts.arn]
  container_log_groups = ["application", "dataplane", "host", "performance"]
}

# --- Alert topic ----------------------------------------------------------------------------------

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  kms_master_key_id = var.logs_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "alerts" {
  statement {
    sid       = "AlarmsBudgetsAndEventsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alert_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# --- Alarms on the pipeline's metrics --------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "asset_check_failed" {
  alarm_name          = "${var.name}-asset-check-failed"
  alarm_description   = "A Dagster asset check is failing with Severity ERROR (OK when it passes again). The Asset and Check dimensions on the dashboard say which."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  treat_missing_data  = "ignore"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "failing"
    label       = "Failing ERROR checks"
    expression  = "SELECT MAX(AssetCheckFailing) FROM SCHEMA(\"${var.metric_namespace}\", Asset, Check, Severity) WHERE Severity = 'ERROR'"
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "freshness_failed" {
  alarm_name          = "${var.name}-freshness-failed"
  alarm_description   = "An asset (raw, gold, features or the model) misses its freshness policy: new data is not flowing (OK when it is fresh again)."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  treat_missing_data  = "ignore"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "stale"
    label       = "Stale assets"
    expression  = "SELECT MAX(FreshnessFailing) FROM SCHEMA(\"${var.metric_namespace}\", Asset)"
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "run_failed" {
  alarm_name          = "${var.name}-run-failed"
  alarm_description   = "A Dagster run failed. Open the run in the Dagster UI (docs/deploy.md, Verify)."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "failed"
    label       = "Failed runs"
    expression  = "SELECT SUM(RunFailed) FROM SCHEMA(\"${var.metric_namespace}\", Job)"
    period      = 300
    return_data = true
  }
}

# The state alarms above ignore missing data, so a dead daemon would leave them in their last state
# with nobody told: this one watches that the gauges keep coming (every check, every sensor tick).
resource "aws_cloudwatch_metric_alarm" "alerts_silent" {
  alarm_name          = "${var.name}-alerts-silent"
  alarm_description   = "No state gauge reached CloudWatch for 15 minutes: the Dagster daemon, its alert sensors or the metric sink is down, so the other alarms keep their last state and new failures go untold. Check the daemon (docs/monitoring.md, When the alerts go silent)."
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  evaluation_periods  = 3
  treat_missing_data  = "breaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "gauges"
    label       = "Check gauges received"
    expression  = "SELECT COUNT(AssetCheckFailing) FROM SCHEMA(\"${var.metric_namespace}\", Asset, Check, Severity)"
    period      = 300
    return_data = true
  }
}

# --- Alarms on the API (the ALB's view) -----------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "api_latency_p95" {
  count               = var.api_load_balancer_arn_suffix == "" ? 0 : 1
  alarm_name          = "${var.name}-api-latency-p95"
  alarm_description   = "The inference API's p95 response time (ALB TargetResponseTime) is above ${var.api_latency_p95_seconds}s."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p95"
  dimensions          = { LoadBalancer = var.api_load_balancer_arn_suffix }
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_latency_p95_seconds
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  count               = var.api_load_balancer_arn_suffix == "" ? 0 : 1
  alarm_name          = "${var.name}-api-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_percent}% of the inference API's responses are 5xx (HTTPCode_Target_5XX_Count / RequestCount)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id    = "rate"
    label = "5xx %"
    # No 5xx in a minute means no data point for the error count, hence FILL; no requests at all
    # means no rate, which treat_missing_data counts as fine.
    expression  = "100 * FILL(errors, 0) / requests"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = var.api_load_balancer_arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = var.api_load_balancer_arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }
}

# --- Dashboard ------------------------------------------------------------------------------------

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = templatefile("${path.module}/dashboard.json", {
    region             = local.region
    namespace          = var.metric_namespace
    cluster_name       = var.cluster_name
    load_balancer_name = var.api_load_balancer_name
  })
}

# --- Container logs and Container Insights --------------------------------------------------------

resource "aws_cloudwatch_log_group" "container" {
  for_each          = toset(local.container_log_groups)
  name              = "/aws/containerinsights/${var.cluster_name}/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "cloudwatch_agent_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:amazon-cloudwatch:cloudwatch-agent"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cloudwatch_agent" {
  name               = "${var.name}-cloudwatch-agent"
  assume_role_policy = data.aws_iam_policy_document.cloudwatch_agent_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "cloudwatch_agent" {
  role       = aws_iam_role.cloudwatch_agent.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/CloudWatchAgentServerPolicy"
}

resource "aws_eks_addon" "cloudwatch_observability" {
  cluster_name                = var.cluster_name
  addon_name                  = "amazon-cloudwatch-observability"
  service_account_role_arn    = aws_iam_role.cloudwatch_agent.arn
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags
  depends_on                  = [aws_cloudwatch_log_group.container, aws_iam_role_policy_attachment.cloudwatch_agent]
}
