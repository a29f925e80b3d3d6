variable "name" {
  description = "Name prefix, e.g. retail-mlops-prod."
  type        = string
}

variable "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  type        = string
}

variable "lake_prefix" {
  description = "Key prefix of the lake root."
  type        = string
}

variable "lake_kms_key_arn" {
  description = "The lake's KMS key."
  type        = string
}

variable "ecr_repository_arns" {
  description = "ECR repository ARNs by short name (api, dagster)."
  type        = map(string)
}

variable "ecr_kms_key_arn" {
  description = "KMS key of the ECR repositories."
  type        = string
}

variable "cluster_name" {
  description = "The EKS cluster (for the delivery role's access entry)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_issuer" {
  description = "The cluster's OIDC issuer without https://."
  type        = string
}

variable "api_service_account" {
  description = "namespace/name of the API's Kubernetes service account."
  type        = string
  default     = "retail/retail-api"
}

variable "dagster_service_account" {
  description = "namespace/name of the Dagster service account (webserver, daemon, code server, run pods)."
  type        = string
  default     = "dagster/dagster"
}

variable "model_package_group" {
  description = "SageMaker model package group of the model (RETAIL_MODEL_GROUP; the default is retail_model.settings.DEFAULT_MODEL_GROUP). Training jobs are named <group>-<suffix>."
  type        = string
  default     = "price-sensitivity"
}

variable "metric_namespace" {
  description = "CloudWatch namespace the Dagster alert sink writes to."
  type        = string
  default     = "RetailMLOps"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows build and deploy."
  type        = string
}

variable "github_environment" {
  description = "GitHub deployment environment whose jobs may assume the deploy role (.github/workflows/deliver.yml)."
  type        = string
  default     = "production"
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub Actions OIDC provider; false if the account already has one (there can be only one per URL)."
  type        = bool
  default     = true
}

variable "k8s_environment_parameter_arn" {
  description = "SSM parameter holding the EKS overlay's environment.env, read by the delivery workflow."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
