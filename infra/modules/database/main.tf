# Dagster's run, event and schedule storage: PostgreSQL on RDS in the private subnets, encrypted
# with its own key, TLS enforced, the master password generated and rotated by RDS in Secrets
# Manager (never in Terraform state), deletion protection, automated backups, logs exported.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  identifier = "${var.name}-dagster"
  partition  = data.aws_partition.current.partition
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A KMS key policy: Resource "*" is this key, and kms:* for the account root is AWS's default statement that lets IAM policies grant use of the key.
  #checkov:skip=CKV_AWS_111:A KMS key policy, not an identity policy (see CKV_AWS_109).
  #checkov:skip=CKV_AWS_356:A KMS key policy: "*" as resource means the key the policy is attached to.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "database" {
  description             = "${var.name}: Dagster's PostgreSQL storage and its master-password secret"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "database" {
  name          = "alias/${var.name}-database"
  target_key_id = aws_kms_key.database.key_id
}

resource "aws_db_subnet_group" "this" {
  name       = local.identifier
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "database" {
  name        = "${local.identifier}-db"
  description = "PostgreSQL from the EKS nodes only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${local.identifier}-db" })
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  for_each                     = toset(var.client_security_group_ids)
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the cluster"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_db_parameter_group" "this" {
  name   = local.identifier
  family = "postgres${var.engine_version}"
  tags   = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  # Schema changes, and any statement slower than a second, reach the exported log.
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "aws_cloudwatch_log_group" "postgres" {
  for_each          = toset(["postgresql", "upgrade"])
  name              = "/aws/rds/instance/${local.identifier}/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${local.identifier}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:Single-AZ to fit the $500 budget (Multi-AZ doubles the instance); Dagster's storage recovers from the automated backups, and runs resume once it is back.
  #checkov:skip=CKV_AWS_353:Left off for a micro instance that holds only Dagster's run metadata: enhanced monitoring and the exported log of statements slower than 1 s cover diagnosis (turn it on with kms_key_id if the run storage grows).
  #checkov:skip=CKV_AWS_354:Performance Insights is off (see CKV_AWS_353), so it has nothing to encrypt.
  identifier     = local.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  db_name                       = "dagster"
  username                      = "dagster"
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.database.arn

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.database.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.database.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = false

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  backup_retention_period             = var.backup_retention_days
  backup_window                       = "17:00-18:00"
  maintenance_window                  = "sun:18:30-sun:19:30"
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.identifier}-final"
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.monitoring.arn
  tags                                = var.tags

  depends_on = [aws_cloudwatch_log_group.postgres]
}

# --- Password rotation ----------------------------------------------------------------------------

# RDS rotates the master password it keeps in Secrets Manager (every 7 days unless told otherwise).
# Dagster's pods read it from the Kubernetes Secret dagster-postgresql-secret at start, so each
# rotation needs that Secret re-synced and the pods restarted (docs/deploy.md, "Rotate the
# database password"): rotate quarterly, and tell on-call when it has happened.
resource "aws_secretsmanager_secret_rotation" "master_password" {
  secret_id = aws_db_instance.this.master_user_secret[0].secret_arn
  rotation_rules {
    automatically_after_days = var.password_rotation_days
  }
}

resource "aws_cloudwatch_event_rule" "password_rotated" {
  name        = "${local.identifier}-password-rotated"
  description = "The Dagster database password was rotated: re-sync dagster-postgresql-secret and restart Dagster."
  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["AWS Service Event via CloudTrail"]
    detail = {
      eventName           = ["RotationSucceeded"]
      additionalEventData = { SecretId = [aws_db_instance.this.master_user_secret[0].secret_arn] }
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "password_rotated" {
  rule = aws_cloudwatch_event_rule.password_rotated.name
  arn  = var.alert_topic_arn
  input_transformer {
    input_paths    = { time = "$.time" }
    input_template = "\"The Dagster database password was rotated at <time>. Re-sync the Kubernetes Secret and restart Dagster: docs/deploy.md, 'Rotate the database password'.\""
  }
}
