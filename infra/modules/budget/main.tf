# The cost guard rail: a monthly cost budget with an alert at 80% of actual spend and at 100% of
# forecast spend, to the alert topic and by e-mail. It warns; it does not stop anything.

resource "aws_budgets_budget" "monthly" {
  name         = var.name
  budget_type  = "COST"
  limit_amount = format("%.2f", var.monthly_limit_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  notification {
    notification_type          = "ACTUAL"
    comparison_operator        = "GREATER_THAN"
    threshold                  = 80
    threshold_type             = "PERCENTAGE"
    subscriber_sns_topic_arns  = [var.alert_topic_arn]
    subscriber_email_addresses = var.alert_emails
  }

  notification {
    notification_type          = "FORECASTED"
    comparison_operator        = "GREATER_THAN"
    threshold                  = 100
    threshold_type             = "PERCENTAGE"
    subscriber_sns_topic_arns  = [var.alert_topic_arn]
    subscriber_email_addresses = var.alert_emails
  }
}
