output "sagemaker_execution_role_arn" {
  description = "RETAIL_SAGEMAKER_ROLE_ARN: the training jobs' execution role."
  value       = aws_iam_role.sagemaker.arn
}

output "api_role_arn" {
  description = "IRSA role of the API (eks.amazonaws.com/role-arn on retail/retail-api)."
  value       = aws_iam_role.api.arn
}

output "dagster_role_arn" {
  description = "IRSA role of Dagster (serviceAccount.annotations in deploy/dagster/values.yaml)."
  value       = aws_iam_role.dagster.arn
}

output "github_build_role_arn" {
  description = "role-to-assume of the workflow's build job."
  value       = aws_iam_role.github["build"].arn
}

output "github_deploy_role_arn" {
  description = "role-to-assume of the workflow's deploy job."
  value       = aws_iam_role.github["deploy"].arn
}
