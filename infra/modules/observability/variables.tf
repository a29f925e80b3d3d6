variable "name" {
  description = "Name prefix, e.g. retail-mlops-prod."
  type        = string
}

variable "cluster_name" {
  description = "The EKS cluster whose container logs and metrics are shipped."
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

variable "logs_kms_key_arn" {
  description = "KMS key for the topic and the container log groups."
  type        = string
}

variable "alert_email" {
  description = "Address subscribed to the alert topic (confirm the subscription e-mail AWS sends). Empty: no subscription."
  type        = string
  default     = ""
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the project's alert metrics (the Dagster AlertSink's cloudwatch backend)."
  type        = string
  default     = "RetailMLOps"
}

variable "api_load_balancer_name" {
  description = "Name of the API's ALB (alb.ingress.kubernetes.io/load-balancer-name in the EKS overlay)."
  type        = string
}

variable "api_load_balancer_arn_suffix" {
  description = "ARN suffix (app/<name>/<id>) of the API's ALB once the Ingress has created it; empty until then, and the API alarms are not created."
  type        = string
  default     = ""
}

variable "api_latency_p95_seconds" {
  description = "Alarm when the API's p95 target response time is above this for 3 of 5 minutes."
  type        = number
  default     = 0.5
}

variable "api_5xx_percent" {
  description = "Alarm when more than this percentage of requests get a 5xx from the targets for 3 of 5 minutes."
  type        = number
  default     = 1
}

variable "log_retention_days" {
  description = "Container log retention."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
