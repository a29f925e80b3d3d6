output "budget_name" {
  description = "The AWS Budgets budget."
  value       = aws_budgets_budget.monthly.name
}
