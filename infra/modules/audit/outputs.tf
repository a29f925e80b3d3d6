output "logs_kms_key_arn" {
  description = "KMS key for log groups, the alert topic and CloudTrail."
  value       = aws_kms_key.logs.arn
}

output "access_log_bucket" {
  description = "Bucket that receives S3 server access logs (prefix s3/) and ALB access logs (prefix alb/)."
  value       = aws_s3_bucket.access_logs.id
}

output "trail_arn" {
  description = "The multi-region CloudTrail."
  value       = aws_cloudtrail.this.arn
}
