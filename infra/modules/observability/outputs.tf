output "alert_topic_arn" {
  description = "SNS topic every alarm and the budget publish to."
  value       = aws_sns_topic.alerts.arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
