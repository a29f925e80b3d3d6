variable "name" {
  description = "Name prefix for every resource, e.g. retail-mlops-prod."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's IPv4 range."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Zones for one public and one private subnet each, named explicitly so the subnet layout never shifts (EKS needs at least two)."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "interface_endpoint_az_count" {
  description = "Zones that get an ENI of each interface endpoint. Each costs per hour per zone; one zone keeps the bill down and shares the single NAT gateway's zone as the failure domain."
  type        = number
  default     = 1
}

variable "cluster_name" {
  description = "EKS cluster name, for the subnet tags the AWS Load Balancer Controller discovers subnets by."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key for the flow log group."
  type        = string
}

variable "log_retention_days" {
  description = "Flow log retention."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
