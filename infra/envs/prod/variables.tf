variable "region" {
  description = "AWS region of the whole platform."
  type        = string
  default     = "ap-southeast-1"
}

variable "availability_zones" {
  description = "The three zones of the VPC (ap-southeast-1 has exactly these three)."
  type        = list(string)
  default     = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]
}

variable "project" {
  description = "Project name, the first part of every resource name."
  type        = string
  default     = "retail-mlops"
}

variable "environment" {
  description = "Environment name, the second part of every resource name."
  type        = string
  default     = "prod"
}

# The one place the Kubernetes version is set: the cluster runs it, and the tests validate every
# rendered manifest against its API schemas (tests/test_deploy_k8s.py reads this default).
# 1.35 is in EKS standard support until 2027-03-27; an older minor would bill extended support.
variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
  default     = "1.35"
}

variable "cluster_public_access_cidrs" {
  description = "CIDRs allowed to reach the EKS API endpoint from outside the VPC: operators, and the delivery workflow's runners (GitHub larger runners with static IPs, or a self-hosted runner's NAT)."
  type        = list(string)
  validation {
    condition     = length(var.cluster_public_access_cidrs) > 0 && !contains(var.cluster_public_access_cidrs, "0.0.0.0/0")
    error_message = "List the operator and runner CIDRs; 0.0.0.0/0 would open the API endpoint to the internet."
  }
}

variable "cluster_admin_role_arns" {
  description = "IAM roles with cluster-admin, including the role that runs Terraform (its Kubernetes and Helm providers need it)."
  type        = list(string)
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows build and deploy (OIDC trust)."
  type        = string
}

variable "api_hostname" {
  description = "Public host name of the API (a DNS record pointing at the ALB, covered by the certificate)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate (in this region) for api_hostname; the ALB terminates TLS with it."
  type        = string
}

variable "alert_email" {
  description = "Address for alarms and budget alerts."
  type        = string
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget; alerts at 80% actual and 100% forecast."
  type        = number
  default     = 500
}

variable "lake_prefix" {
  description = "Key prefix of the lake root in the lake bucket."
  type        = string
  default     = "prod"
}

variable "node_instance_types" {
  description = "Instance types of the EKS node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_capacity_type" {
  description = "ON_DEMAND, or SPOT to save about 60% on nodes at the risk of interruptions."
  type        = string
  default     = "ON_DEMAND"
}

variable "api_ingress_deployed" {
  description = "Set to true after the first `kubectl apply -k deploy/k8s/overlays/eks` has created the API's ALB: the API latency and 5xx alarms need its ARN."
  type        = bool
  default     = false
}

variable "github_environment" {
  description = "GitHub deployment environment of the deliver workflow's deploy job; only its jobs may assume the deploy role."
  type        = string
  default     = "production"
}

variable "create_github_oidc_provider" {
  description = "Create the GitHub Actions OIDC provider; set false if the account already has one."
  type        = bool
  default     = true
}

variable "model_package_group" {
  description = "SageMaker model package group (RETAIL_MODEL_GROUP in every pod); the roles may touch this group only."
  type        = string
  default     = "price-sensitivity"
}

variable "teardown" {
  description = "Lift the delete protections (lake/log buckets emptied with every version, ECR images, RDS deletion protection) ahead of `terraform destroy`. Only `make destroy` sets it; never in an apply you mean to keep."
  type        = bool
  default     = false
}

variable "training_instance_type" {
  description = "SageMaker training instance type (RETAIL_SAGEMAKER_INSTANCE_TYPE); infra/COST.md prices it."
  type        = string
  default     = "ml.m5.xlarge"
}

variable "training_spot" {
  description = "Managed spot training for SageMaker jobs (RETAIL_SAGEMAKER_SPOT): about a third of the on-demand price; an interrupted job resumes from its checkpoints. infra/cost.py prices it."
  type        = bool
  default     = true
}
