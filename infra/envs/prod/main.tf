# The production composition: one AWS account, one region (ap-southeast-1), one EKS cluster that
# runs the inference API (deploy/k8s/overlays/eks) and Dagster (deploy/dagster/values.yaml).

locals {
  name                   = "${var.project}-${var.environment}"
  api_load_balancer_name = "${local.name}-api"
  tags = {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
    Repository  = var.github_repository
  }
}

data "aws_caller_identity" "current" {}

module "audit" {
  source        = "../../modules/audit"
  name          = local.name
  force_destroy = var.teardown
}

module "network" {
  source             = "../../modules/network"
  name               = local.name
  availability_zones = var.availability_zones
  cluster_name       = local.name
  logs_kms_key_arn   = module.audit.logs_kms_key_arn
}

module "eks" {
  source              = "../../modules/eks"
  name                = local.name
  kubernetes_version  = var.kubernetes_version
  vpc_id              = module.network.vpc_id
  private_subnet_ids  = module.network.private_subnet_ids
  public_access_cidrs = var.cluster_public_access_cidrs
  admin_role_arns     = var.cluster_admin_role_arns
  node_instance_types = var.node_instance_types
  node_capacity_type  = var.node_capacity_type
  logs_kms_key_arn    = module.audit.logs_kms_key_arn
}

module "ecr" {
  source       = "../../modules/ecr"
  name         = var.project
  force_delete = var.teardown
}

module "lake" {
  source            = "../../modules/lake"
  name              = local.name
  lake_prefix       = var.lake_prefix
  access_log_bucket = module.audit.access_log_bucket
  force_destroy     = var.teardown
}

module "iam" {
  source                        = "../../modules/iam"
  name                          = local.name
  lake_bucket_arn               = module.lake.bucket_arn
  lake_prefix                   = module.lake.lake_prefix
  lake_kms_key_arn              = module.lake.kms_key_arn
  ecr_repository_arns           = module.ecr.repository_arns
  ecr_kms_key_arn               = module.ecr.kms_key_arn
  cluster_name                  = module.eks.cluster_name
  oidc_provider_arn             = module.eks.oidc_provider_arn
  oidc_issuer                   = module.eks.oidc_issuer
  github_repository             = var.github_repository
  github_environment            = var.github_environment
  create_github_oidc_provider   = var.create_github_oidc_provider
  model_package_group           = var.model_package_group
  k8s_environment_parameter_arn = aws_ssm_parameter.k8s_environment.arn
}

module "edge" {
  source            = "../../modules/edge"
  name              = local.name
  cluster_name      = module.eks.cluster_name
  node_group_name   = module.eks.node_group_name
  vpc_id            = module.network.vpc_id
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  logs_kms_key_arn  = module.audit.logs_kms_key_arn
}

# The API's ALB exists once the Ingress has been applied (see var.api_ingress_deployed).
data "aws_lb" "api" {
  count = var.api_ingress_deployed ? 1 : 0
  name  = local.api_load_balancer_name
}

module "observability" {
  source                       = "../../modules/observability"
  name                         = local.name
  cluster_name                 = module.eks.cluster_name
  oidc_provider_arn            = module.eks.oidc_provider_arn
  oidc_issuer                  = module.eks.oidc_issuer
  logs_kms_key_arn             = module.audit.logs_kms_key_arn
  alert_email                  = var.alert_email
  metric_namespace             = "RetailMLOps"
  api_load_balancer_name       = local.api_load_balancer_name
  api_load_balancer_arn_suffix = var.api_ingress_deployed ? data.aws_lb.api[0].arn_suffix : ""
}

module "database" {
  source                    = "../../modules/database"
  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  logs_kms_key_arn          = module.audit.logs_kms_key_arn
  alert_topic_arn           = module.observability.alert_topic_arn
  deletion_protection       = !var.teardown
}

module "budget" {
  source            = "../../modules/budget"
  name              = "${local.name}-monthly"
  monthly_limit_usd = var.monthly_budget_usd
  alert_topic_arn   = module.observability.alert_topic_arn
  alert_emails      = [var.alert_email]
}

# --- What the Kubernetes side needs from here ---------------------------------------------------

locals {
  # deploy/k8s/overlays/eks/environment.env for this account.
  k8s_environment = join("\n", [
    "API_ROLE_ARN=${module.iam.api_role_arn}",
    "LAKE_URI=${module.lake.lake_uri}",
    "AWS_REGION=${var.region}",
    "CERTIFICATE_ARN=${var.certificate_arn}",
    "WAF_ACL_ARN=${module.edge.waf_acl_arn}",
    "API_HOSTNAME=${var.api_hostname}",
    "ALB_ACCESS_LOG_BUCKET_ATTRIBUTE=access_logs.s3.bucket=${module.audit.access_log_bucket}",
    "",
  ])
}

# Read by the delivery workflow's deploy job (it has no access to this state).
resource "aws_ssm_parameter" "k8s_environment" {
  #checkov:skip=CKV2_AWS_34:Not a secret: role ARNs, a bucket name, a host name. A SecureString would only add a KMS grant to the deploy role.
  name        = "/${var.project}/${var.environment}/k8s-environment"
  description = "deploy/k8s/overlays/eks/environment.env for this account"
  type        = "String"
  tier        = "Standard"
  value       = local.k8s_environment
}

# Namespaces belong to the platform, not to the workloads: the API's runs under Pod Security
# "restricted", and the delivery role may act inside it only (iam module's access entry).
resource "kubernetes_namespace_v1" "retail" {
  metadata {
    name = "retail"
    labels = {
      "pod-security.kubernetes.io/enforce"         = "restricted"
      "pod-security.kubernetes.io/enforce-version" = "latest"
      "pod-security.kubernetes.io/warn"            = "restricted"
    }
  }
  depends_on = [module.eks]
}

resource "kubernetes_namespace_v1" "dagster" {
  metadata {
    name = "dagster"
    labels = {
      # The chart's webserver and daemon run as root in their default images: baseline, not restricted.
      "pod-security.kubernetes.io/enforce" = "baseline"
      "pod-security.kubernetes.io/warn"    = "restricted"
    }
  }
  depends_on = [module.eks]
}

# Defaults for containers in the dagster namespace that declare no resources: the code server,
# whose values.yaml entry has none because the chart would copy them into every run (where they
# would replace the run launcher's 2Gi/4Gi), and the chart's init containers. Run pods, the
# webserver and the daemon declare their own and are not affected.
resource "kubernetes_limit_range_v1" "dagster_defaults" {
  metadata {
    name      = "dagster-container-defaults"
    namespace = kubernetes_namespace_v1.dagster.metadata[0].name
  }
  spec {
    limit {
      type = "Container"
      default_request = {
        cpu    = "250m"
        memory = "1Gi"
      }
      default = {
        memory = "2Gi"
      }
    }
  }
}

# The Dagster release (api_release asset, RETAIL_RELEASE=eks) rolls the API out from inside the
# cluster: its service account may edit the API's namespace, nothing else.
resource "kubernetes_role_binding_v1" "dagster_releases_api" {
  metadata {
    name      = "dagster-releases-api"
    namespace = kubernetes_namespace_v1.retail.metadata[0].name
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "ClusterRole"
    name      = "edit"
  }
  subject {
    kind      = "ServiceAccount"
    name      = "dagster"
    namespace = kubernetes_namespace_v1.dagster.metadata[0].name
  }
}

# The non-secret settings of every Dagster pod (code server, webserver, daemon, run pods), read by
# the project's settings (RETAIL_*) and boto3 (AWS_*); deploy/dagster/values.yaml lists it in
# envConfigMaps. RETAIL_SAGEMAKER_IMAGE_URI is per release (the image tag), so the Helm install
# sets it on the code location instead (docs/deploy.md).
resource "kubernetes_config_map_v1" "dagster_settings" {
  metadata {
    name      = "retail-dagster-settings"
    namespace = kubernetes_namespace_v1.dagster.metadata[0].name
    labels = {
      "app.kubernetes.io/part-of"   = "retail-mlops"
      "app.kubernetes.io/component" = "orchestration"
    }
  }
  data = {
    RETAIL_MODE                    = "aws"
    RETAIL_LAKE                    = module.lake.lake_uri
    RETAIL_TRAINING                = "sagemaker"
    RETAIL_REGISTRY                = "sagemaker"
    RETAIL_RELEASE                 = "eks"
    RETAIL_ALERTS                  = "cloudwatch"
    RETAIL_MODEL_GROUP             = var.model_package_group
    AWS_DEFAULT_REGION             = var.region
    RETAIL_SAGEMAKER_ROLE_ARN      = module.iam.sagemaker_execution_role_arn
    RETAIL_SAGEMAKER_INSTANCE_TYPE = var.training_instance_type
    RETAIL_SAGEMAKER_SPOT          = tostring(var.training_spot)
    # model.tar.gz under the lake's key, like the rest of the lake (the SageMaker role may use it).
    RETAIL_SAGEMAKER_OUTPUT_KMS_KEY_ID = module.lake.kms_key_arn
    # Fewer Dagster events per run (retail_assets/event_volume.py, what `retail-mlops materialize`
    # sets): one planned event per asset instead of one per partition; a step's materializations
    # in one PostgreSQL insert. Read by the processes that create runs (webserver, daemon) and run them.
    DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS = "true"
    DAGSTER_EVENT_BATCH_SIZE                        = "1000"
  }
}
