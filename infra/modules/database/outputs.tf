output "endpoint" {
  description = "Host name of the instance (postgresql.postgresqlHost in deploy/dagster/values.yaml)."
  value       = aws_db_instance.this.address
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret with the master credentials (JSON: username, password), rotated by RDS."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}
