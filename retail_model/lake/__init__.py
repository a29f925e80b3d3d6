"""The lake: Delta tables and plain objects under one root, a directory or `s3://bucket/prefix`.

`Lake` (base.py) is the interface; `LocalLake` and `S3Lake` implement its object operations and
its lock; `delta.py` writes Delta commits through them.
"""

from retail_model.lake.base import Commit, Lake, LakeError, LockBusyError, LockLostError, StoredObject, TableSnapshot, file_sha256
from retail_model.lake.local import LocalLake
from retail_model.lake.s3 import S3Lake
from retail_model.settings import AwsSettings

__all__ = [
    "Commit", "Lake", "LakeError", "LocalLake", "LockBusyError", "LockLostError", "S3Lake", "StoredObject", "TableSnapshot",
    "file_sha256", "open_lake",
]


def open_lake(uri: str, aws: AwsSettings | None = None) -> Lake:
    """The one place a lake address becomes a backend: s3:// is S3, anything else a directory."""
    return S3Lake(uri, aws) if uri.startswith("s3://") else LocalLake(uri)
