"""The model registry: one interface for the pipeline and the API, with SageMaker's approval states.

`ModelRegistry` is what `registered_model`, `api_release`, the CLI and the API's model store use;
they never ask which backend sits behind it: `LakeModelRegistry` (JSON in the lake, lake.py) or
`SageMakerModelRegistry` (a SageMaker model package group, sagemaker.py).

The rules every backend keeps:
- a version is registered once; `register` never overwrites an entry (`VersionExistsError`);
- a status changes only through `decide`, which records who decided, why and when; a Rejected
  version stays rejected, and only an Approved version can be released;
- every change takes the group's lock (the lake backend's `Lake.lock`), so a check and the write it guards
  cannot interleave with another change;
- what serves is the release record in the lake, written by the `ReleaseTarget` once a version
  is live, with a history: rejecting the serving version makes the latest earlier release that
  is still Approved the one to serve (`serving_entry`, `rollback_target`).

Lake layout (under the lake root, a directory or S3):

    registry/<group>/versions/<version>.json   the local backend's entries (with their history)
    registry/<group>/release.json              the current release record (the serving pointer)
    registry/<group>/releases/<at>-<version>.json   every release, oldest first
    registry/<group>/.lock                     the group's lock

Model artefacts live where training put them (`model_uri`, a lake directory); `load_model` fetches
one and loads it as the API serves it.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from retail_model.artifact import MODEL_FILE_NAME, ModelLoadError, PriceSensitivityModel, model_key
from retail_model.lake import Lake, LakeError
from retail_model.settings import DEFAULT_MODEL_GROUP

PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
APPROVAL_STATES = (PENDING, APPROVED, REJECTED)
DEFAULT_GROUP = DEFAULT_MODEL_GROUP


class RegistryError(Exception):
    """A registry operation that cannot be done as asked (unknown version, unapproved release)."""


class VersionExistsError(RegistryError):
    """`register` was asked for a version that is already registered: entries are never overwritten."""


@dataclass(frozen=True)
class RegistryEntry:
    version: str
    status: str
    model_uri: str  # where the artefact lives: a lake directory (models/<version>)
    feature_version: str
    metrics: dict = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    description: str = ""
    # Every status this version has had: {"status", "reason", "actor", "at"}, oldest first.
    history: list = field(default_factory=list)
    # Where the model came from: data_versions, feature_version, code_version, training_job.
    lineage: dict = field(default_factory=dict)
    package_arn: str = ""  # the SageMaker model package, when that backend holds the entry

    @property
    def approved_by_decision(self) -> bool:
        """Approved after registration (by a person or in SageMaker), not at registration."""
        return self.status == APPROVED and len(self.history) > 1 and self.history[-1]["status"] == APPROVED


@dataclass(frozen=True)
class Release:
    """The registry's record of what serves: which version, since when, and what it replaced."""

    version: str
    model_uri: str
    released_at: str
    previous_version: str | None = None
    reason: str = ""
    actor: str = ""


def status_change(status: str, reason: str, actor: str) -> dict:
    return {"status": status, "reason": reason, "actor": actor, "at": now()}


class ModelRegistry(ABC):
    """Versions with SageMaker's states and their history; the release record; artefact fetch."""

    group: str
    lake: Lake  # both backends keep the release record and the artefacts in the lake

    # -- entries (backend-specific) ---------------------------------------------------------

    def register(
        self,
        version: str,
        model_uri: str,
        feature_version: str,
        metrics: dict,
        status: str = PENDING,
        description: str = "",
        *,
        reason: str = "",
        actor: str = "pipeline",
        lineage: dict | None = None,
    ) -> RegistryEntry:
        """Add a new version with its first status; `VersionExistsError` if it is already there."""
        check_status(status)
        with self.lock():
            if self._is_registered(version):
                raise VersionExistsError(f"model version {version} is already registered as {self.get(version).status}; entries are never overwritten")
            first = status_change(status, reason or description or "registered", actor)
            entry = RegistryEntry(
                version, status, model_uri, feature_version, dict(metrics), first["at"], first["at"], description, [first], dict(lineage or {})
            )
            return self._add(entry)

    @abstractmethod
    def _is_registered(self, version: str) -> bool: ...

    @abstractmethod
    def _add(self, entry: RegistryEntry) -> RegistryEntry:
        """Persist a new entry (called under the lock, after the checks); returns it as stored."""

    @abstractmethod
    def get(self, version: str) -> RegistryEntry: ...

    @abstractmethod
    def list_versions(self) -> list[RegistryEntry]:
        """Every entry, oldest first."""

    @abstractmethod
    def _store_decision(self, entry: RegistryEntry, change: dict) -> RegistryEntry:
        """Persist one status change of `entry` (called under the lock, after the checks)."""

    # -- decisions -------------------------------------------------------------------------

    def decide(self, version: str, status: str, reason: str, actor: str) -> RegistryEntry:
        """Approve or reject a version, recording who and why. A Rejected version stays rejected."""
        if status not in (APPROVED, REJECTED):
            raise RegistryError(f"a decision is {APPROVED} or {REJECTED}, not {status!r}")
        if not reason.strip() or not actor.strip():
            raise RegistryError("a decision needs a reason and who made it (--reason)")
        with self.lock():
            entry = self.get(version)
            if entry.status == REJECTED:
                last = entry.history[-1] if entry.history else {}
                raise RegistryError(
                    f"model version {version} was Rejected ({last.get('reason', 'no reason recorded')}, by "
                    f"{last.get('actor', 'unknown')}); a rejected version stays rejected: train a new one"
                )
            if entry.status == status:
                raise RegistryError(f"model version {version} is already {status}")
            return self._store_decision(entry, status_change(status, reason, actor))

    # -- the release record (in the lake, for both backends) ----------------------------------

    @property
    def prefix(self) -> str:
        return f"registry/{self.group}"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The group's lock; re-entrant within one thread (decide -> rollback -> record_release)."""
        held = self.__dict__.setdefault("_held", threading.local())
        if getattr(held, "depth", 0):
            held.depth += 1
            try:
                yield
            finally:
                held.depth -= 1
            return
        with self.lake.lock(f"{self.prefix}/.lock"):
            held.depth = 1
            try:
                yield
            finally:
                held.depth = 0

    def record_release(self, version: str, reason: str = "", actor: str = "pipeline") -> Release:
        """Point serving at an Approved version (the ReleaseTarget calls this once it is live)."""
        with self.lock():
            entry = self.get(version)
            if entry.status != APPROVED:
                raise RegistryError(f"model version {version} is {entry.status}; only an Approved version can be released")
            current = self.released()
            release = Release(version, entry.model_uri, now(), current.version if current else None, reason, actor)
            stamp = release.released_at.replace(":", "").replace("+", "Z")
            self.lake.write_json(f"{self.prefix}/releases/{stamp}-{version}.json", asdict(release))
            self.lake.write_json(f"{self.prefix}/release.json", asdict(release))
            return release

    def released(self) -> Release | None:
        payload = self.lake.read_json(f"{self.prefix}/release.json")
        return Release(**payload) if payload else None

    def release_history(self) -> list[Release]:
        """Every release, oldest first."""
        stored = self.lake.list_objects(f"{self.prefix}/releases")
        return [Release(**self.lake.read_json(s.key)) for s in stored if s.key.endswith(".json")]

    def rollback_target(self) -> RegistryEntry | None:
        """The latest release before the current one whose version is still Approved."""
        current = self.released()
        seen = {current.version} if current else set()
        for release in reversed(self.release_history()):
            if release.version in seen:
                continue
            seen.add(release.version)
            entry = self.get(release.version)
            if entry.status == APPROVED:
                return entry
        return None

    def serving_entry(self) -> RegistryEntry | None:
        """The version to serve: the released one while it is Approved; if it was rejected, the
        latest earlier release still Approved, else None (nothing may serve: a version never
        released has not passed a release's smoke test); with no release at all, the newest Approved one."""
        released = self.released()
        if released is None:
            return self.latest_approved()
        entry = self.get(released.version)
        return entry if entry.status == APPROVED else self.rollback_target()

    def latest_approved(self) -> RegistryEntry | None:
        approved = [e for e in self.list_versions() if e.status == APPROVED]
        return approved[-1] if approved else None

    # -- artefacts ------------------------------------------------------------------------

    def load_model(self, entry: RegistryEntry) -> PriceSensitivityModel:
        """Fetch the entry's artefact and load it exactly as the API serves it."""
        key = self._lake_key(entry.model_uri)
        with self.lake.local_directory(key) as directory:
            return PriceSensitivityModel.load(directory, version=entry.version)

    def _lake_key(self, model_uri: str) -> str:
        root = self.lake.uri_of("")
        if not model_uri.startswith(root + "/"):
            raise ModelLoadError(f"model artefact {model_uri} is not in the lake {root}; this registry only reads its own lake")
        key = model_uri[len(root) + 1 :]
        try:
            if not self.lake.exists(f"{key}/{MODEL_FILE_NAME}"):
                raise ModelLoadError(f"no {MODEL_FILE_NAME} under {model_uri}: the artefact is missing or was moved")
        except LakeError as error:
            raise ModelLoadError(f"cannot reach {model_uri}: {error}") from error
        return key


def model_directory_uri(lake: Lake, version: str) -> str:
    """The absolute address of a trained model's folder in the lake."""
    return lake.uri_of(model_key(version))


def check_status(status: str) -> None:
    if status not in APPROVAL_STATES:
        raise RegistryError(f"unknown approval status {status!r}; use one of {APPROVAL_STATES}")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
