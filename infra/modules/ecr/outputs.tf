output "repository_urls" {
  description = "Repository URL by short name (api, dagster)."
  value       = { for short, repository in aws_ecr_repository.this : short => repository.repository_url }
}

output "repository_arns" {
  description = "Repository ARN by short name."
  value       = { for short, repository in aws_ecr_repository.this : short => repository.arn }
}

output "kms_key_arn" {
  description = "KMS key of the images (pullers and pushers need kms:Decrypt / GenerateDataKey)."
  value       = aws_kms_key.images.arn
}
