"""The lake under s3://bucket/prefix: boto3 for objects; deltalake gets the same endpoint and credentials."""

from __future__ import annotations

import contextlib
from pathlib import Path

from retail_model.lake.base import Lake, LakeError, StoredObject, file_sha256
from retail_model.lake.lease import s3_lease
from retail_model.settings import AwsSettings


class S3Lake(Lake):
    """The lake under s3://bucket/prefix. boto3 for objects; deltalake gets the same endpoint and credentials."""

    def __init__(self, uri: str, aws: AwsSettings | None = None) -> None:
        import boto3  # the local lake never needs it

        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or not bucket:
            raise LakeError(f"{uri} is not an s3://bucket/prefix address")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.aws = aws or AwsSettings()
        self._session = boto3.session.Session(region_name=self.aws.region)
        self.client = self._session.client("s3", endpoint_url=self.aws.endpoint_url)

    def storage_options(self) -> dict[str, str]:
        options = {"AWS_REGION": self._session.region_name or "us-east-1"}
        if self.aws.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.aws.endpoint_url
            if self.aws.endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        # boto3's credential chain (environment, profile, IRSA) is the one source; asked per call
        # because temporary credentials rotate.
        credentials = self._session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            options |= {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
            if frozen.token:
                options["AWS_SESSION_TOKEN"] = frozen.token
        return options

    def uri_of(self, key: str) -> str:
        return f"{self.uri}/{key}" if key else self.uri

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    def list_objects(self, prefix: str) -> list[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix).rstrip("/") + "/"):
            for item in page.get("Contents", []):
                found.append(StoredObject(self._relative(item["Key"]), int(item["Size"]), item["ETag"].strip('"')))
        return sorted(found, key=lambda s: s.key)

    def stat(self, key: str) -> StoredObject | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(key, int(head["ContentLength"]), head["ETag"].strip('"'))

    def read_bytes(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as error:
            raise LakeError(f"cannot read {self.uri_of(key)}: {error}") from error

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            raise LakeError(f"cannot read {self.uri_of(key)}: {error}") from error
        return response["Body"].read(), response["ETag"].strip('"')

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)  # a PUT is atomic

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def fingerprint(self, stored: StoredObject) -> str:
        return stored.stamp  # the ETag: S3's own content version

    def copy(self, source: str, target: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket, Key=self._key(target), CopySource={"Bucket": self.bucket, "Key": self._key(source)}
        )

    def upload_file(self, path: Path, key: str) -> None:
        # The content hash rides along, so a re-upload of the same bytes can be recognised
        # whatever the ETag (a multipart upload's ETag is not a hash of the content).
        metadata = {"sha256": file_sha256(Path(path))}
        self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs={"Metadata": metadata})

    def holds_copy_of(self, path: Path, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError:
            return False
        return head.get("Metadata", {}).get("sha256") == file_sha256(Path(path))

    def download_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.client.download_file(self.bucket, self._key(key), str(path))

    # -- the lock: a lease object, renewed while held (lease.py) ----------------------------

    def lock(self, key: str, timeout: float = 60.0, lease_seconds: float = 120.0) -> contextlib.AbstractContextManager[None]:
        """A lease object only its holder writes or deletes, renewed while held: see lease.py."""
        return s3_lease(self.client, self.bucket, self._key(key), self.uri_of(key), timeout, lease_seconds)
