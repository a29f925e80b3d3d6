"""The local model registry: versioned entries in the lake with SageMaker's approval states.

Layout under the lake root (plain JSON, readable by a person or a script):
    registry/<group>/versions/<version>.json   one entry per registered model version
    registry/<group>/release.json              the version the API serves, written on release

The Dagster side writes it (registered_model, api_release); the API only reads it, so this
module has no Dagster import.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
APPROVAL_STATES = (PENDING, APPROVED, REJECTED)
DEFAULT_GROUP = "price-sensitivity"


class RegistryError(Exception):
    """A registry operation that cannot be done as asked (unknown version, unapproved release)."""


@dataclass(frozen=True)
class RegistryEntry:
    version: str
    status: str
    model_dir: str  # relative to the lake root, e.g. "models/<version>"
    feature_version: str
    metrics: dict = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    description: str = ""


class LocalModelRegistry:
    def __init__(self, lake_root: Path | str, group: str = DEFAULT_GROUP) -> None:
        self.lake_root = Path(lake_root)
        self.group = group
        self.root = self.lake_root / "registry" / group

    def register(
        self,
        version: str,
        model_dir: str,
        feature_version: str,
        metrics: dict,
        status: str = PENDING,
        description: str = "",
    ) -> RegistryEntry:
        _check_status(status)
        now = _now()
        entry = RegistryEntry(version, status, model_dir, feature_version, metrics, now, now, description)
        _write_json(self._entry_path(version), asdict(entry))
        return entry

    def set_status(self, version: str, status: str) -> RegistryEntry:
        _check_status(status)
        entry = self.get(version)
        updated = RegistryEntry(**{**asdict(entry), "status": status, "updated_at": _now()})
        _write_json(self._entry_path(version), asdict(updated))
        return updated

    def get(self, version: str) -> RegistryEntry:
        path = self._entry_path(version)
        if not path.exists():
            raise RegistryError(f"model version {version!r} is not registered in {self.root}")
        return RegistryEntry(**json.loads(path.read_text()))

    def list_versions(self) -> list[RegistryEntry]:
        entries = [RegistryEntry(**json.loads(p.read_text())) for p in (self.root / "versions").glob("*.json")]
        return sorted(entries, key=lambda e: (e.created_at, e.version))

    def latest_approved(self) -> RegistryEntry | None:
        approved = [e for e in self.list_versions() if e.status == APPROVED]
        return approved[-1] if approved else None

    def release(self, version: str) -> dict:
        entry = self.get(version)
        if entry.status != APPROVED:
            raise RegistryError(f"model version {version} is {entry.status}; only an Approved version can be released")
        record = {"version": version, "model_dir": entry.model_dir, "released_at": _now()}
        _write_json(self.root / "release.json", record)
        return record

    def released(self) -> dict | None:
        path = self.root / "release.json"
        return json.loads(path.read_text()) if path.exists() else None

    def serving_entry(self) -> RegistryEntry | None:
        """The version to serve: the released one, else the newest Approved one."""
        released = self.released()
        return self.get(released["version"]) if released else self.latest_approved()

    def _entry_path(self, version: str) -> Path:
        return self.root / "versions" / f"{version}.json"


def _check_status(status: str) -> None:
    if status not in APPROVAL_STATES:
        raise RegistryError(f"unknown approval status {status!r}; use one of {APPROVAL_STATES}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _write_json(path: Path, payload: dict) -> None:
    """Write atomically, so a reader (the API polling release.json) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        tmp = handle.name
    os.replace(tmp, path)
