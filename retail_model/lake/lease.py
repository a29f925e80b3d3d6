"""The S3 lake's lock: a lease object that exactly one holder owns, renewed while held.

Taken with a conditional PUT (`If-None-Match: *`), which S3 grants to exactly one writer. While
held, a background thread rewrites it every third of `lease_seconds` with `If-Match` on the ETag
its holder last wrote, so a lock held for an hour (an EKS rollout) never looks abandoned. A lease
not renewed for `lease_seconds` (its holder died, or stalled) is taken over with `If-Match` on
its ETag, so two waiters cannot both take it over. It is released with a conditional DELETE
(`If-Match` on the holder's ETag): a holder that stalled past its lease and was taken over finds
the ETag changed, deletes nothing, and learns it lost the lock (`LockLostError`) instead of
deleting its successor's lease.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from retail_model.lake.base import LockBusyError, LockLostError


class S3Lease:
    """One attempt to hold `key` in `bucket`; use `S3Lake.lock(...)`, which wraps it."""

    def __init__(self, client, bucket: str, key: str, uri: str, lease_seconds: float) -> None:
        self.client, self.bucket, self.key, self.uri = client, bucket, key, uri
        self.lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.etag: str | None = None  # what this holder last wrote; every conditional write names it
        self.lost: str | None = None  # why the lease is no longer ours, once it is not
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._guard = threading.Lock()  # the renewer and the release never write at once

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not (self._create() or self._take_over_if_stale()):
            if time.monotonic() > deadline:
                raise LockBusyError(
                    f"{self.uri} is held by another process for more than {timeout:.0f}s; retry later, or delete it if its "
                    f"holder died (a lease not renewed for {self.lease_seconds:.0f}s is taken over by the next waiter)"
                )
            time.sleep(0.2)
        self._renewer = threading.Thread(target=self._renew_until_released, name=f"lease-renewer {self.uri}", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        """Stop renewing, then delete the lease only if it is still the one this holder wrote."""
        from botocore.exceptions import ClientError

        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._guard:
            if self.lost is None:
                try:
                    self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
                except ClientError as error:
                    if not _lost(error):
                        raise
                    self.lost = "its ETag changed before the release: another holder took it over"
        if self.lost is not None:
            raise LockLostError(
                f"the lock {self.uri} was no longer this holder's ({self.lost}): it went more than {self.lease_seconds:.0f}s "
                "without a renewal (the process stalled?), so what it wrote may have raced with the next holder; check it"
            )

    def _body(self) -> bytes:
        return json.dumps({"owner": self.owner, "since": datetime.now(UTC).isoformat(), "epoch": time.time()}).encode()

    def _create(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=self._body(), IfNoneMatch="*")["ETag"]
        except ClientError as error:
            if _conflict(error):
                return False
            raise
        return True

    def _take_over_if_stale(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            current = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError:
            return False  # released meanwhile: the next conditional PUT will tell
        renewed_at = json.loads(current["Body"].read() or b"{}").get("epoch", 0.0)
        if time.time() - renewed_at < self.lease_seconds:
            return False
        try:
            self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=self._body(), IfMatch=current["ETag"])["ETag"]
        except ClientError as error:
            if _conflict(error) or _lost(error):
                return False  # someone else took it over (or released it) first
            raise
        return True

    def _renew_until_released(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        while not self._stop.wait(self.lease_seconds / 3):
            with self._guard:
                if self._stop.is_set():
                    return
                try:
                    self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=self._body(), IfMatch=self.etag)["ETag"]
                except ClientError as error:
                    if _lost(error):
                        self.lost = "a renewal found another holder's lease"
                        return
                    # anything else (throttling, a blip): try again at the next third of the lease
                except BotoCoreError:
                    pass  # the network: the same


@contextlib.contextmanager
def s3_lease(client, bucket: str, key: str, uri: str, timeout: float, lease_seconds: float) -> Iterator[S3Lease]:
    lease = S3Lease(client, bucket, key, uri, lease_seconds)
    lease.acquire(timeout)
    try:
        yield lease
    finally:
        lease.release()


def _code(error) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _conflict(error) -> bool:
    return _code(error) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


def _lost(error) -> bool:
    """The lease is not what this holder wrote: replaced (ETag changed) or gone."""
    return _conflict(error) or _code(error) in ("NoSuchKey", "404")
