"""One writer at a time in a model group: the lock every registry change and release takes.

Registering, deciding and releasing each read the registry, check, then write; two of them at
once (two runs, a run and a person at the CLI) could otherwise release a version that was just
rejected, or register one version twice. On a disk the lock is `fcntl.flock` on a file; on S3 it
is a lease object created with a conditional PUT (`If-None-Match: *`), which S3 grants to
exactly one writer; a lease older than `lease_seconds` (its holder died) is taken over with
`If-Match` on its ETag, so two waiters cannot both take it over.

Written here rather than on the `Lake` interface because only the registry needs it; it uses the
S3 lake's client and the local lake's paths.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from retail_model.lake import Lake, LocalLake, S3Lake


class RegistryBusyError(Exception):
    """Another process holds the registry lock for longer than we were willing to wait."""


@contextlib.contextmanager
def registry_lock(lake: Lake, key: str, timeout: float = 60.0, lease_seconds: float = 120.0) -> Iterator[None]:
    if isinstance(lake, LocalLake):
        with _file_lock(lake, key, timeout):
            yield
    elif isinstance(lake, S3Lake):
        with _s3_lease(lake, key, timeout, lease_seconds):
            yield
    else:  # pragma: no cover - a new Lake backend must say how it locks
        raise TypeError(f"no registry lock for {type(lake).__name__}")


@contextlib.contextmanager
def _file_lock(lake: LocalLake, key: str, timeout: float) -> Iterator[None]:
    path = lake.path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryBusyError(f"{path} is locked by another process for more than {timeout:.0f}s; retry later") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _s3_lease(lake: S3Lake, key: str, timeout: float, lease_seconds: float) -> Iterator[None]:
    from botocore.exceptions import ClientError

    full_key = f"{lake.prefix}/{key}" if lake.prefix else key
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + timeout
    while True:
        lease = json.dumps({"owner": owner, "since": datetime.now(UTC).isoformat(), "epoch": time.time()}).encode()
        try:
            lake.client.put_object(Bucket=lake.bucket, Key=full_key, Body=lease, IfNoneMatch="*")
            break
        except ClientError as error:
            if not _conflict(error):
                raise
        if _take_over_if_stale(lake, full_key, lease, lease_seconds):
            break
        if time.monotonic() > deadline:
            raise RegistryBusyError(
                f"{lake.uri_of(key)} is held by another process for more than {timeout:.0f}s; retry later, "
                f"or delete it if its holder died (it expires by itself after {lease_seconds:.0f}s)"
            )
        time.sleep(0.2)
    try:
        yield
    finally:
        lake.client.delete_object(Bucket=lake.bucket, Key=full_key)


def _take_over_if_stale(lake: S3Lake, full_key: str, lease: bytes, lease_seconds: float) -> bool:
    from botocore.exceptions import ClientError

    try:
        current = lake.client.get_object(Bucket=lake.bucket, Key=full_key)
    except ClientError:
        return False  # released meanwhile: the next conditional PUT will tell
    held_since = json.loads(current["Body"].read() or b"{}").get("epoch", 0.0)
    if time.time() - held_since < lease_seconds:
        return False
    try:
        lake.client.put_object(Bucket=lake.bucket, Key=full_key, Body=lease, IfMatch=current["ETag"])
    except ClientError as error:
        if _conflict(error):
            return False  # someone else took it over first
        raise
    return True


def _conflict(error) -> bool:
    return error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
