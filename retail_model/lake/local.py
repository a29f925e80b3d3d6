"""The lake in a directory (default ./.retail): objects are files, locks are `flock`s."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from retail_model.lake.base import Lake, LakeError, LockBusyError, StoredObject, file_sha256


class LocalLake(Lake):
    """The lake in a directory (default ./.retail)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def storage_options(self) -> None:
        return None

    def uri_of(self, key: str) -> str:
        return str(self.path(key))

    def path(self, key: str) -> Path:
        return self.root / key if key else self.root

    def list_objects(self, prefix: str) -> list[StoredObject]:
        base = self.path(prefix)
        if not base.is_dir():
            return []
        found = (self._stored(p) for p in base.rglob("*") if p.is_file() and ".tmp-" not in p.name)
        return sorted((s for s in found if s is not None), key=lambda s: s.key)

    def stat(self, key: str) -> StoredObject | None:
        path = self.path(key)
        return self._stored(path) if path.is_file() else None

    def _stored(self, path: Path) -> StoredObject | None:
        try:
            status = path.stat()
        except FileNotFoundError:  # removed between listing and stat
            return None
        return StoredObject(path.relative_to(self.root).as_posix(), status.st_size, str(status.st_mtime_ns))

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError as error:
            raise LakeError(f"{self.uri_of(key)} does not exist") from error

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        data = self.read_bytes(key)
        return data, hashlib.sha256(data).hexdigest()

    def write_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
        staging.write_bytes(data)
        os.replace(staging, target)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def fingerprint(self, stored: StoredObject) -> str:
        return file_sha256(self.path(stored.key))

    def holds_copy_of(self, path: Path, key: str) -> bool:
        """rsync's quick check before the hash: another size is another file; the same size and
        modification time (what `upload_file`'s copy keeps) is taken as the same bytes without
        reading either (a landing of 105 unchanged weekly files hashed 210 files before); anything
        else is compared by sha256. A file rewritten with the same size and its mtime set back
        (`touch -r`, `cp -p` of another file) is taken as unchanged: touch it to land it again."""
        target = self.path(key)
        if not target.is_file():
            return False
        held, offered = target.stat(), Path(path).stat()
        if held.st_size != offered.st_size:
            return False
        return held.st_mtime_ns == offered.st_mtime_ns or file_sha256(target) == file_sha256(path)

    def copy(self, source: str, target: str) -> None:
        self.path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.path(source), self.path(target))

    def upload_file(self, path: Path, key: str) -> None:
        target = self.path(key)
        if target.resolve() == Path(path).resolve():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
        shutil.copy2(path, staging)
        os.replace(staging, target)

    def download_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.path(key), path)

    @contextlib.contextmanager
    def local_directory(self, prefix: str) -> Iterator[Path]:
        yield self.path(prefix)  # already local: no copy

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float = 60.0, lease_seconds: float = 120.0) -> Iterator[None]:
        """`fcntl.flock` on the file `key`: the kernel releases it when its holder dies, so no lease."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+") as handle:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockBusyError(f"{path} is locked by another process for more than {timeout:.0f}s; retry later") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
