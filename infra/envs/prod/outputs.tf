output "account_id" {
  description = "The AWS account."
  value       = data.aws_caller_identity.current.account_id
}

output "cluster_name" {
  description = "EKS cluster: aws eks update-kubeconfig --name <this> --region ap-southeast-1."
  value       = module.eks.cluster_name
}

output "lake_uri" {
  description = "RETAIL_LAKE for every pod."
  value       = module.lake.lake_uri
}

output "lake_bucket" {
  description = "The lake bucket (also Dagster's compute-log bucket)."
  value       = module.lake.bucket
}

output "ecr_repository_urls" {
  description = "Image repositories (api, dagster, training)."
  value       = module.ecr.repository_urls
}

output "api_role_arn" {
  description = "IRSA role of the API."
  value       = module.iam.api_role_arn
}

output "dagster_role_arn" {
  description = "IRSA role of Dagster (serviceAccount.annotations in deploy/dagster/values.yaml)."
  value       = module.iam.dagster_role_arn
}

output "sagemaker_execution_role_arn" {
  description = "RETAIL_SAGEMAKER_ROLE_ARN."
  value       = module.iam.sagemaker_execution_role_arn
}

output "github_build_role_arn" {
  description = "GitHub variable AWS_BUILD_ROLE_ARN."
  value       = module.iam.github_build_role_arn
}

output "github_deploy_role_arn" {
  description = "GitHub variable AWS_DEPLOY_ROLE_ARN."
  value       = module.iam.github_deploy_role_arn
}

output "database_endpoint" {
  description = "postgresql.postgresqlHost for the Dagster chart."
  value       = module.database.endpoint
}

output "database_secret_arn" {
  description = "Secrets Manager secret holding the Dagster database password (rotated by RDS)."
  value       = module.database.master_user_secret_arn
}

output "alert_topic_arn" {
  description = "SNS topic of every alarm and budget alert."
  value       = module.observability.alert_topic_arn
}

output "k8s_environment" {
  description = "deploy/k8s/overlays/eks/environment.env for this account (terraform output -raw k8s_environment)."
  value       = local.k8s_environment
}

output "dagster_helm_set_flags" {
  description = "The account-specific --set flags of the Dagster Helm install (docs/deploy.md); add the image tag."
  value = join(" ", [
    "--set-string dagster-user-deployments.deployments[0].image.repository=${module.ecr.repository_urls["dagster"]}",
    "--set-string postgresql.postgresqlHost=${module.database.endpoint}",
    "--set-string serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=${module.iam.dagster_role_arn}",
    "--set-string computeLogManager.config.s3ComputeLogManager.bucket=${module.lake.bucket}",
  ])
}
