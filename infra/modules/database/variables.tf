variable "name" {
  description = "Name prefix, e.g. retail-mlops-prod (instance: <name>-dagster)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the DB subnet group."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 5432 (the EKS cluster security group: managed nodes carry it)."
  type        = list(string)
}

variable "instance_class" {
  description = "RDS instance class (db.t4g.small if the run/event storage outgrows 1 GiB of memory)."
  type        = string
  default     = "db.t4g.micro"
}

variable "engine_version" {
  description = "PostgreSQL major version; minor versions are applied in the maintenance window."
  type        = string
  default     = "17"
}

variable "allocated_storage_gb" {
  description = "Initial storage; grows automatically up to max_allocated_storage_gb."
  type        = number
  default     = 20
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling."
  type        = number
  default     = 100
}

variable "backup_retention_days" {
  description = "Automated backups (point-in-time recovery window)."
  type        = number
  default     = 7
}

variable "logs_kms_key_arn" {
  description = "KMS key for the exported PostgreSQL log groups."
  type        = string
}

variable "log_retention_days" {
  description = "PostgreSQL log retention."
  type        = number
  default     = 365
}

variable "deletion_protection" {
  description = "Refuse to delete the instance. Only `make destroy` turns it off (the final snapshot is still taken)."
  type        = bool
  default     = true
}

variable "password_rotation_days" {
  description = "Days between rotations of the master password by RDS (each one needs the Kubernetes Secret re-synced)."
  type        = number
  default     = 90
}

variable "alert_topic_arn" {
  description = "SNS topic told when the password has been rotated."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
