variable "name" {
  description = "Name prefix, e.g. retail-mlops-prod."
  type        = string
}

variable "cluster_name" {
  description = "The EKS cluster the controller runs in."
  type        = string
}

variable "vpc_id" {
  description = "The VPC (passed to the controller: its pods have no instance metadata access)."
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

variable "lb_controller_version" {
  description = "AWS Load Balancer Controller release; its IAM policy is read from this tag."
  type        = string
  default     = "v2.14.0"
}

variable "lb_controller_chart_version" {
  description = "Version of the eks/aws-load-balancer-controller chart matching lb_controller_version."
  type        = string
  default     = "1.14.0"
}

variable "rate_limit_per_5_minutes" {
  description = "Requests one client IP may send in 5 minutes before WAF blocks it."
  type        = number
  default     = 3000
}

variable "logs_kms_key_arn" {
  description = "KMS key for the WAF log group."
  type        = string
}

variable "log_retention_days" {
  description = "WAF log retention."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "node_group_name" {
  description = "The EKS managed node group the controller runs on (module.eks.node_group_name: the reference orders the Helm release after the nodes exist)."
  type        = string
}
