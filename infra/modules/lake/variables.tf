variable "name" {
  description = "Name prefix, e.g. retail-mlops-prod (bucket: <name>-lake-<account id>)."
  type        = string
}

variable "lake_prefix" {
  description = "Key prefix of the lake root inside the bucket (RETAIL_LAKE=s3://<bucket>/<prefix>)."
  type        = string
  default     = "prod"
}

variable "access_log_bucket" {
  description = "Bucket for S3 server access logs."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept (recovery window for overwrites and VACUUM)."
  type        = number
  default     = 30
}

variable "landing_archive_days" {
  description = "Days before landed CSV files move to Glacier Instant Retrieval (still readable, cheaper to keep)."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a non-empty bucket. Off in production: `make destroy` empties it first, on purpose."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
