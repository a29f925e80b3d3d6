output "bucket" {
  description = "The lake bucket."
  value       = aws_s3_bucket.lake.id
}

output "bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.lake.arn
}

output "kms_key_arn" {
  description = "The lake's KMS key; every reader and writer needs it."
  value       = aws_kms_key.lake.arn
}

output "lake_prefix" {
  description = "Key prefix of the lake root."
  value       = var.lake_prefix
}

output "lake_uri" {
  description = "RETAIL_LAKE for the pods."
  value       = "s3://${aws_s3_bucket.lake.id}/${var.lake_prefix}"
}
