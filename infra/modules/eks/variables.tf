variable "name" {
  description = "Cluster name, e.g. retail-mlops-prod."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version (set in envs/prod; the manifests are validated against it)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets for the control plane ENIs and the nodes."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint (operators, the delivery workflow's runners)."
  type        = list(string)
  validation {
    condition     = length(var.public_access_cidrs) > 0 && !contains(var.public_access_cidrs, "0.0.0.0/0")
    error_message = "List specific CIDRs; 0.0.0.0/0 would open the API endpoint to the internet."
  }
}

variable "admin_role_arns" {
  description = "IAM roles granted cluster-admin through EKS access entries."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT."
  type        = string
  default     = "ON_DEMAND"
}

variable "node_min_size" {
  description = "Fewest nodes."
  type        = number
  default     = 2
}

variable "node_desired_size" {
  description = "Nodes at creation (the group keeps its count afterwards)."
  type        = number
  default     = 2
}

variable "node_max_size" {
  description = "Most nodes."
  type        = number
  default     = 4
}

variable "logs_kms_key_arn" {
  description = "KMS key for the control-plane log group."
  type        = string
}

variable "log_retention_days" {
  description = "Control-plane log retention."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
