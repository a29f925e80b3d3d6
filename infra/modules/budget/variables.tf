variable "name" {
  description = "Budget name."
  type        = string
}

variable "monthly_limit_usd" {
  description = "Monthly cost budget in US dollars."
  type        = number
  default     = 500
}

variable "alert_topic_arn" {
  description = "SNS topic for budget alerts."
  type        = string
}

variable "alert_emails" {
  description = "Addresses e-mailed directly by AWS Budgets as well (they arrive even if the topic's subscription was never confirmed)."
  type        = list(string)
  default     = []
}
