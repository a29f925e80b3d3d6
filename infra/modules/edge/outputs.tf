output "waf_acl_arn" {
  description = "The web ACL for the API Ingress (alb.ingress.kubernetes.io/wafv2-acl-arn)."
  value       = aws_wafv2_web_acl.api.arn
}

output "lb_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller."
  value       = aws_iam_role.lb_controller.arn
}
