terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    http = {
      source  = "hashicorp/http"
      version = "~> 3.4"
    }
  }

  # Remote state in S3 with S3-native locking (no DynamoDB table). Partial configuration: the
  # bucket is per account, so it comes from backend.hcl at init (docs/deploy.md, "Bootstrap"):
  #   terraform -chdir=infra/envs/prod init -backend-config=backend.hcl
  backend "s3" {
    key          = "retail-mlops/prod/terraform.tfstate"
    region       = "ap-southeast-1"
    encrypt      = true
    use_lockfile = true
  }
}
