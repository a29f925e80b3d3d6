variable "name" {
  description = "Name prefix for every resource, e.g. retail-mlops-prod."
  type        = string
}

variable "log_retention_days" {
  description = "How long audit and access logs are kept in S3 and CloudWatch Logs."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the non-empty log and trail buckets (every object version). Only `make destroy` sets it."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
