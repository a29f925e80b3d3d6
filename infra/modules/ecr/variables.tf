variable "name" {
  description = "Repository name prefix, e.g. retail-mlops (repositories: <name>/api, <name>/dagster, <name>/training)."
  type        = string
}

variable "repositories" {
  description = "Repositories to create under the prefix."
  type        = list(string)
  default     = ["api", "dagster", "training"]
}

variable "keep_tagged_images" {
  description = "Tagged images kept per repository (older ones expire); releases roll back within this window."
  type        = number
  default     = 15
}

variable "force_delete" {
  description = "Let `terraform destroy` delete repositories that still hold images. Only `make destroy` sets it."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
