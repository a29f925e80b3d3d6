"""The model registry: one interface for the pipeline and the API, with SageMaker's approval states.

`ModelRegistry` is what `registered_model`, `api_release` and the API's model store use; they
never ask which backend sits behind it. `LakeModelRegistry` keeps plain JSON in the lake (a
directory or S3), readable by a person or a script:

    registry/<group>/versions/<version>.json   one entry per registered model version
    registry/<group>/release.json              the version that serves (the release pointer)

Model artefacts live where training put them (`model_uri`); `load_model` fetches one and loads
it as the API serves it. No Dagster import.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from retail_model.artifact import MODEL_FILE_NAME, ModelLoadError, PriceSensitivityModel
from retail_model.lake import Lake, LakeError
from retail_model.settings import DEFAULT_MODEL_GROUP, ConfigurationError, SharedSettings

PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
APPROVAL_STATES = (PENDING, APPROVED, REJECTED)
DEFAULT_GROUP = DEFAULT_MODEL_GROUP


class RegistryError(Exception):
    """A registry operation that cannot be done as asked (unknown version, unapproved release)."""


@dataclass(frozen=True)
class RegistryEntry:
    version: str
    status: str
    model_uri: str  # where the artefact lives: a lake directory, or s3://.../model.tar.gz
    feature_version: str
    metrics: dict = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    description: str = ""


@dataclass(frozen=True)
class Release:
    """The registry's record of what serves: which version, since when."""

    version: str
    model_uri: str
    released_at: str


class ModelRegistry(ABC):
    """Versions with SageMaker's states, the release pointer, and artefact fetch."""

    group: str

    @abstractmethod
    def register(
        self, version: str, model_uri: str, feature_version: str, metrics: dict, status: str = PENDING, description: str = ""
    ) -> RegistryEntry: ...

    @abstractmethod
    def get(self, version: str) -> RegistryEntry: ...

    @abstractmethod
    def list_versions(self) -> list[RegistryEntry]:
        """Every entry, oldest first."""

    @abstractmethod
    def set_status(self, version: str, status: str) -> RegistryEntry: ...

    @abstractmethod
    def record_release(self, version: str) -> Release:
        """Point serving at an Approved version (the ReleaseTarget calls this once it is live)."""

    @abstractmethod
    def released(self) -> Release | None: ...

    @abstractmethod
    def load_model(self, entry: RegistryEntry) -> PriceSensitivityModel:
        """Fetch the entry's artefact and load it exactly as the API serves it."""

    def latest_approved(self) -> RegistryEntry | None:
        approved = [e for e in self.list_versions() if e.status == APPROVED]
        return approved[-1] if approved else None

    def serving_entry(self) -> RegistryEntry | None:
        """The version to serve: the released one, else the newest Approved one."""
        released = self.released()
        return self.get(released.version) if released else self.latest_approved()


class LakeModelRegistry(ModelRegistry):
    """Entries as JSON objects in the lake; artefacts in the lake's models/ folder."""

    def __init__(self, lake: Lake, group: str = DEFAULT_GROUP) -> None:
        self.lake = lake
        self.group = group
        self.prefix = f"registry/{group}"

    @property
    def location(self) -> str:
        return self.lake.uri_of(self.prefix)

    def __repr__(self) -> str:
        return f"LakeModelRegistry({self.location!r})"

    def register(
        self, version: str, model_uri: str, feature_version: str, metrics: dict, status: str = PENDING, description: str = ""
    ) -> RegistryEntry:
        _check_status(status)
        now = _now()
        entry = RegistryEntry(version, status, model_uri, feature_version, metrics, now, now, description)
        self.lake.write_json(self._entry_key(version), asdict(entry))
        return entry

    def get(self, version: str) -> RegistryEntry:
        payload = self.lake.read_json(self._entry_key(version))
        if payload is None:
            raise RegistryError(f"model version {version!r} is not registered in {self.location}")
        return RegistryEntry(**payload)

    def list_versions(self) -> list[RegistryEntry]:
        entries = [
            RegistryEntry(**self.lake.read_json(stored.key))
            for stored in self.lake.list_objects(f"{self.prefix}/versions")
            if stored.key.endswith(".json")
        ]
        return sorted(entries, key=lambda e: (e.created_at, e.version))

    def set_status(self, version: str, status: str) -> RegistryEntry:
        _check_status(status)
        entry = self.get(version)
        updated = RegistryEntry(**{**asdict(entry), "status": status, "updated_at": _now()})
        self.lake.write_json(self._entry_key(version), asdict(updated))
        return updated

    def record_release(self, version: str) -> Release:
        entry = self.get(version)
        if entry.status != APPROVED:
            raise RegistryError(f"model version {version} is {entry.status}; only an Approved version can be released")
        release = Release(version, entry.model_uri, _now())
        self.lake.write_json(f"{self.prefix}/release.json", asdict(release))
        return release

    def released(self) -> Release | None:
        payload = self.lake.read_json(f"{self.prefix}/release.json")
        return Release(**payload) if payload else None

    def load_model(self, entry: RegistryEntry) -> PriceSensitivityModel:
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

    def _entry_key(self, version: str) -> str:
        if not version or "/" in version or version.startswith("."):
            raise RegistryError(f"{version!r} is not a model version")
        return f"{self.prefix}/versions/{version}.json"


def open_registry(settings: SharedSettings, lake: Lake) -> ModelRegistry:
    """The one place the registry backend is chosen (RETAIL_REGISTRY, else the mode's default)."""
    if settings.registry_backend == "local":
        return LakeModelRegistry(lake, settings.model_group)
    raise ConfigurationError(
        "RETAIL_REGISTRY=sagemaker (the aws default) is not available yet: set RETAIL_REGISTRY=local "
        "to keep the registry as JSON in the lake (on S3 when RETAIL_LAKE is an s3:// address)."
    )


def model_directory_uri(lake: Lake, version: str) -> str:
    """Where a trained model's files live in the lake: models/<version>/."""
    return lake.uri_of(f"models/{version}")


def _check_status(status: str) -> None:
    if status not in APPROVAL_STATES:
        raise RegistryError(f"unknown approval status {status!r}; use one of {APPROVAL_STATES}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
