# The project's roles, each with only what its workload does:
#   sagemaker  the training job: read the lake (its channels), write models and job output, pull the image
#   api        IRSA retail/retail-api: read models/ and registry/, SageMaker registry reads, write predictions/
#   dagster    IRSA dagster/dagster: the lake read/write, SageMaker training and registry, PutMetricData
#   github-*   GitHub Actions over OIDC, no stored keys: build pushes images, deploy applies to `retail`

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
  lake       = "${var.lake_bucket_arn}/${var.lake_prefix}"
  sagemaker  = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}"
  # The group itself and its versions (model-package/<group>/<n>); nothing else in the registry.
  model_package_arns = [
    "${local.sagemaker}:model-package-group/${var.model_package_group}",
    "${local.sagemaker}:model-package/${var.model_package_group}/*",
  ]
}

# --- SageMaker execution role -------------------------------------------------------------------------

data "aws_iam_policy_document" "sagemaker_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "ListTheLake"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.lake_prefix}/*"]
    }
  }
  statement {
    sid       = "ReadTrainingChannels"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake}/*"]
  }
  statement {
    sid       = "WriteModelsAndJobOutput"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.lake}/models/*", "${local.lake}/sagemaker/*"]
  }
  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.lake_kms_key_arn]
  }
  statement {
    sid       = "PullTheTrainingImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [var.ecr_repository_arns["training"]]
  }
  statement {
    sid       = "DecryptTheImage"
    actions   = ["kms:Decrypt"]
    resources = [var.ecr_kms_key_arn]
  }
  statement {
    # ecr:GetAuthorizationToken has no resource-level permissions; it only returns a registry login token.
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "TrainingJobLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs*"]
  }
  statement {
    sid       = "TrainingJobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TrainingJobs"]
    }
  }
}

resource "aws_iam_role" "sagemaker" {
  name               = "${var.name}-sagemaker"
  assume_role_policy = data.aws_iam_policy_document.sagemaker_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "training-job"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# --- IRSA trust -----------------------------------------------------------------------------------------

data "aws_iam_policy_document" "irsa_assume" {
  for_each = {
    api     = var.api_service_account
    dagster = var.dagster_service_account
  }
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${replace(each.value, "/", ":")}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

# --- API role -------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "api" {
  #checkov:skip=CKV_AWS_356:Only sagemaker:ListModelPackages has Resource "*": the action supports no resource-level permissions (every other statement is scoped).
  statement {
    sid       = "ListModelsRegistryPredictions"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.lake_prefix}/models/*", "${var.lake_prefix}/registry/*", "${var.lake_prefix}/predictions/*"]
    }
  }
  statement {
    sid       = "ReadModelsAndRegistry"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake}/models/*", "${local.lake}/registry/*"]
  }
  statement {
    # The prediction log is a Delta table: appending reads its log and writes new files and commits.
    sid       = "AppendPredictions"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.lake}/predictions/*"]
  }
  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.lake_kms_key_arn]
  }
  statement {
    sid       = "ReadTheModelRegistry"
    actions   = ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"]
    resources = local.model_package_arns
  }
  statement {
    # sagemaker:ListModelPackages supports no resource-level permissions; it is read-only.
    sid       = "ListModelPackages"
    actions   = ["sagemaker:ListModelPackages"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "api" {
  name               = "${var.name}-api"
  assume_role_policy = data.aws_iam_policy_document.irsa_assume["api"].json
  tags               = var.tags
}

resource "aws_iam_role_policy" "api" {
  name   = "serve-models"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

# --- Dagster role ---------------------------------------------------------------------------------------

data "aws_iam_policy_document" "dagster" {
  #checkov:skip=CKV_AWS_356:Only the read-only sagemaker:List* calls and namespace-conditioned cloudwatch:PutMetricData have Resource "*": they support no resource-level permissions.
  statement {
    sid       = "ListTheLake"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [var.lake_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.lake_prefix}/*", "dagster/*"]
    }
  }
  statement {
    # Partition replaces and VACUUM delete files; compute logs live under dagster/ at the bucket root.
    sid       = "ReadWriteTheLake"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.lake}/*", "${var.lake_bucket_arn}/dagster/*"]
  }
  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.lake_kms_key_arn]
  }
  statement {
    sid       = "RunTrainingJobs"
    actions   = ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"]
    resources = ["${local.sagemaker}:training-job/${var.model_package_group}-*"]
  }
  statement {
    sid = "KeepTheModelRegistry"
    actions = [
      "sagemaker:CreateModelPackageGroup", "sagemaker:DescribeModelPackageGroup",
      "sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage",
      "sagemaker:AddTags",
    ]
    resources = local.model_package_arns
  }
  statement {
    # The List* calls support no resource-level permissions; they are read-only.
    sid       = "ListTheModelRegistry"
    actions   = ["sagemaker:ListModelPackages", "sagemaker:ListModelPackageGroups", "sagemaker:ListTrainingJobs"]
    resources = ["*"]
  }
  statement {
    sid       = "PassTheExecutionRoleToSageMakerOnly"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.sagemaker.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
  statement {
    sid       = "ReadTrainingJobLogs"
    actions   = ["logs:GetLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs:*"]
  }
  statement {
    # cloudwatch:PutMetricData has no resource-level permissions; the condition limits it to the namespace.
    sid       = "PublishAlertMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metric_namespace]
    }
  }
}

resource "aws_iam_role" "dagster" {
  name               = "${var.name}-dagster"
  assume_role_policy = data.aws_iam_policy_document.irsa_assume["dagster"].json
  tags               = var.tags
}

resource "aws_iam_role_policy" "dagster" {
  name   = "orchestrate"
  role   = aws_iam_role.dagster.id
  policy = data.aws_iam_policy_document.dagster.json
}

# --- GitHub Actions (OIDC) --------------------------------------------------------------------------

# One provider per URL per account: reuse the account's if it already has one.
resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_github_oidc_provider ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_github_oidc_provider ? 0 : 1
  url   = "https://token.actions.githubusercontent.com"
}

locals {
  github_oidc_provider_arn = var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
}

data "aws_iam_policy_document" "github_assume" {
  for_each = {
    # Images are built from main and from release tags.
    build = ["repo:${var.github_repository}:ref:refs/heads/main", "repo:${var.github_repository}:ref:refs/tags/v*"]
    # Only jobs in the deployment environment (required reviewers, main and tags only) may deploy.
    deploy = ["repo:${var.github_repository}:environment:${var.github_environment}"]
  }
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = each.value
    }
  }
}

data "aws_iam_policy_document" "github_build" {
  statement {
    # ecr:GetAuthorizationToken has no resource-level permissions; it only returns a registry login token.
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid = "PushImages"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
      "ecr:DescribeImages", "ecr:DescribeImageScanFindings",
    ]
    resources = values(var.ecr_repository_arns)
  }
  statement {
    sid       = "EncryptImages"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.ecr_kms_key_arn]
  }
}

data "aws_iam_policy_document" "github_deploy" {
  statement {
    sid       = "FindTheCluster"
    actions   = ["eks:DescribeCluster"]
    resources = ["arn:${local.partition}:eks:${local.region}:${local.account_id}:cluster/${var.cluster_name}"]
  }
  statement {
    sid       = "ReadTheOverlayEnvironment"
    actions   = ["ssm:GetParameter"]
    resources = [var.k8s_environment_parameter_arn]
  }
}

resource "aws_iam_role" "github" {
  for_each             = data.aws_iam_policy_document.github_assume
  name                 = "${var.name}-github-${each.key}"
  assume_role_policy   = each.value.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "github_build" {
  name   = "push-images"
  role   = aws_iam_role.github["build"].id
  policy = data.aws_iam_policy_document.github_build.json
}

resource "aws_iam_role_policy" "github_deploy" {
  name   = "deploy-api"
  role   = aws_iam_role.github["deploy"].id
  policy = data.aws_iam_policy_document.github_deploy.json
}

# Kubernetes rights of the deploy role: edit in the API's namespace only (no cluster-scoped objects).
resource "aws_eks_access_entry" "github_deploy" {
  cluster_name  = var.cluster_name
  principal_arn = aws_iam_role.github["deploy"].arn
  type          = "STANDARD"
}

resource "aws_eks_access_policy_association" "github_deploy" {
  cluster_name  = var.cluster_name
  principal_arn = aws_iam_role.github["deploy"].arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
  access_scope {
    type       = "namespace"
    namespaces = [split("/", var.api_service_account)[0]]
  }
  depends_on = [aws_eks_access_entry.github_deploy]
}
