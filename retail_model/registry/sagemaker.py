"""The model registry in SageMaker: a model package group, one model package per model version.

What a platform team sees in SageMaker Studio is the truth about approval: each package carries
`ModelApprovalStatus` (PendingManualApproval / Approved / Rejected, changeable in the console),
its metrics (`ModelMetrics` points at metrics.json; the headline numbers are also
`CustomerMetadataProperties`), and its lineage (`MetadataProperties.CommitId` and
`GeneratedBy`; table and feature-set versions as `CustomerMetadataProperties`). Our version
string is the package's description, so the listing finds it without describing every package.

What SageMaker has no place for stays in the lake, next to the release record both backends use:
the history of status changes with their reasons (`registry/<group>/history/<version>.json`).
A change made in the console appears in `history` as a last entry built from SageMaker's
`ApprovalDescription` and `LastModifiedBy`.

boto3 rather than the SageMaker SDK: this module is shared with the API, whose image ships boto3
but not the SDK (which also takes seconds to import).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from retail_model.lake import Lake
from retail_model.registry.base import (
    REJECTED,
    ModelRegistry,
    RegistryEntry,
    RegistryError,
)
from retail_model.settings import AwsSettings

# CustomerMetadataProperties keys (values must match [\p{L}\p{Z}\p{N}_.:/=+\-@]*, at most 256 chars).
VERSION, MODEL_URI, FEATURE_VERSION = "retail:version", "retail:model-uri", "retail:feature-version"
METRIC, LINEAGE = "retail:metric:", "retail:lineage:"
HEADLINE_METRICS = ("accuracy", "macro_f1", "n_train", "n_test")


class SageMakerModelRegistry(ModelRegistry):
    def __init__(self, lake: Lake, group: str, aws: AwsSettings | None = None, client=None) -> None:
        import boto3

        self.lake = lake
        self.group = group
        aws = aws or AwsSettings()
        self.client = client or boto3.session.Session(region_name=aws.region).client("sagemaker", endpoint_url=aws.endpoint_url)

    def __repr__(self) -> str:
        return f"SageMakerModelRegistry(model package group {self.group!r}, release record in {self.lake.uri_of(self.prefix)!r})"

    def _is_registered(self, version: str) -> bool:
        return self._find(version) is not None

    def _add(self, entry: RegistryEntry) -> RegistryEntry:
        self._ensure_group()
        version, model_uri, lineage = entry.version, entry.model_uri, entry.lineage
        properties = {VERSION: version, MODEL_URI: model_uri, FEATURE_VERSION: entry.feature_version or "unknown"}
        properties |= {f"{METRIC}{k}": _text(entry.metrics[k]) for k in HEADLINE_METRICS if k in entry.metrics}
        properties |= {f"{LINEAGE}{k}": _text(v) for k, v in _flat(lineage).items()}
        request = {
            "ModelPackageGroupName": self.group,
            "ModelPackageDescription": version,
            "ModelApprovalStatus": entry.status,
            "CustomerMetadataProperties": properties,
            "MetadataProperties": {
                "CommitId": str(lineage.get("code_version", "unknown"))[:1024],
                "GeneratedBy": str(lineage.get("training_job", "unknown"))[:1024],
                "ProjectId": self.group,
            },
        }
        if model_uri.startswith("s3://"):
            statistics = {"ContentType": "application/json", "S3Uri": f"{model_uri}/metrics.json"}
            request["ModelMetrics"] = {"ModelQuality": {"Statistics": statistics}}
        self.client.create_model_package(**request)
        self.lake.write_json(self._history_key(version), {"history": list(entry.history)})
        return self.get(version)

    def get(self, version: str) -> RegistryEntry:
        summary = self._find(version)
        if summary is None:
            raise RegistryError(f"model version {version!r} is not registered in SageMaker model package group {self.group!r}")
        return self._entry(self.client.describe_model_package(ModelPackageName=summary["ModelPackageArn"]))

    def list_versions(self) -> list[RegistryEntry]:
        entries = [self._entry(self.client.describe_model_package(ModelPackageName=s["ModelPackageArn"])) for s in self._summaries()]
        return sorted(entries, key=lambda e: (e.created_at, e.version))

    def _store_decision(self, entry: RegistryEntry, change: dict) -> RegistryEntry:
        described = self.client.describe_model_package(ModelPackageName=entry.package_arn)
        self.client.update_model_package(
            ModelPackageArn=entry.package_arn,
            ModelApprovalStatus=change["status"],
            ApprovalDescription=f"{change['actor']}: {change['reason']}"[:1024],
            # Sent whole: an update that leaves them out may drop them (moto does).
            CustomerMetadataProperties=described.get("CustomerMetadataProperties") or {VERSION: entry.version},
        )
        self.lake.write_json(self._history_key(entry.version), {"history": [*self._stored_history(entry.version), change]})
        return self.get(entry.version)

    # -- SageMaker ------------------------------------------------------------------------

    def _ensure_group(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.describe_model_package_group(ModelPackageGroupName=self.group)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("ValidationException", "ResourceNotFound"):
                raise
            self.client.create_model_package_group(
                ModelPackageGroupName=self.group,
                ModelPackageGroupDescription="Basket price-sensitivity models (retail-mlops): one package per trained version",
            )

    def _summaries(self) -> list[dict]:
        paginator = self.client.get_paginator("list_model_packages")
        found = []
        for page in paginator.paginate(ModelPackageGroupName=self.group, ModelPackageType="Versioned"):
            found.extend(page.get("ModelPackageSummaryList", []))
        return found

    def _find(self, version: str) -> dict | None:
        matches = [s for s in self._summaries() if s.get("ModelPackageDescription") == version]
        return matches[-1] if matches else None

    def _entry(self, package: dict) -> RegistryEntry:
        properties = package.get("CustomerMetadataProperties") or {}
        version = properties.get(VERSION) or package.get("ModelPackageDescription", "")
        created = _iso(package.get("CreationTime"))
        history = self._stored_history(version)
        status = package["ModelApprovalStatus"]
        if not history or history[-1]["status"] != status:  # changed in SageMaker itself
            who = (package.get("LastModifiedBy") or {}).get("UserProfileName") or "SageMaker"
            at = _iso(package.get("LastModifiedTime")) or created
            history = [*history, {"status": status, "reason": package.get("ApprovalDescription") or "changed in SageMaker", "actor": who, "at": at}]
            status, history = _rejected_stays_rejected(status, history)
        metrics = {k[len(METRIC):]: _number(v) for k, v in properties.items() if k.startswith(METRIC)}
        lineage = _nest({k[len(LINEAGE):]: v for k, v in properties.items() if k.startswith(LINEAGE)})
        entry = RegistryEntry(
            version=version,
            status=status,
            model_uri=properties.get(MODEL_URI, ""),
            feature_version=properties.get(FEATURE_VERSION, ""),
            metrics=metrics,
            created_at=created,
            updated_at=history[-1]["at"] if history else created,
            description=package.get("ModelPackageDescription", ""),
            history=history,
            lineage=lineage,
        )
        return replace(entry, package_arn=package["ModelPackageArn"])

    def _stored_history(self, version: str) -> list:
        return (self.lake.read_json(self._history_key(version)) or {}).get("history", [])

    def _history_key(self, version: str) -> str:
        if not version or "/" in version or version.startswith("."):
            raise RegistryError(f"{version!r} is not a model version")
        return f"{self.prefix}/history/{version}.json"


def _rejected_stays_rejected(status: str, history: list) -> tuple[str, list]:
    """SageMaker lets a person move a Rejected package to Approved (console, boto3); this project
    never serves such a version: a rejection (by the promotion gate or a person) is final. The
    entry reads as Rejected, and its history says what was done in SageMaker and why it is refused."""
    rejections = [change for change in history[:-1] if change["status"] == REJECTED]
    if status == REJECTED or not rejections:
        return status, history
    first = rejections[0]
    refusal = {
        "status": REJECTED,
        "reason": (
            f"refused: a rejected version stays rejected and is never released (set to {status} in SageMaker by "
            f"{history[-1]['actor']} after {first['actor']} rejected it: {first['reason']}); train a new one"
        ),
        "actor": "retail-mlops registry",
        "at": history[-1]["at"],
    }
    return REJECTED, [*history, refusal]


def _flat(lineage: dict, prefix: str = "") -> dict:
    """{"data_versions": {"gold": 3}} -> {"data_versions.gold": 3}: metadata properties are flat."""
    flat = {}
    for key, value in lineage.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _nest(flat: dict) -> dict:
    """The inverse of `_flat`; table versions come back as numbers."""
    nested: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        target = nested
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = _number(value) if parents else value
    return nested


def _text(value: object) -> str:
    text = f"{value:.6f}" if isinstance(value, float) else str(value)
    return "".join(c if c.isalnum() or c in " _.:/=+-@" else "_" for c in text)[:256] or "unknown"


def _number(value: str) -> float | int | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return str(value or "")
