"""The local registry backend: entries as JSON objects in the lake (a directory or S3).

    registry/<group>/versions/<version>.json   one entry per model version, with its history

Readable by a person or a script; the release record and the lock are the base class's
(base.py).
"""

from __future__ import annotations

from dataclasses import asdict, replace

from retail_model.lake import Lake
from retail_model.registry.base import (
    DEFAULT_GROUP,
    ModelRegistry,
    RegistryEntry,
    RegistryError,
)


class LakeModelRegistry(ModelRegistry):
    """Entries as JSON objects in the lake; artefacts in the lake's models/ folder."""

    def __init__(self, lake: Lake, group: str = DEFAULT_GROUP) -> None:
        self.lake = lake
        self.group = group

    @property
    def location(self) -> str:
        return self.lake.uri_of(self.prefix)

    def __repr__(self) -> str:
        return f"LakeModelRegistry({self.location!r})"

    def _is_registered(self, version: str) -> bool:
        return self.lake.exists(self._entry_key(version))

    def _add(self, entry: RegistryEntry) -> RegistryEntry:
        self.lake.write_json(self._entry_key(entry.version), asdict(entry))
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

    def _store_decision(self, entry: RegistryEntry, change: dict) -> RegistryEntry:
        updated = replace(entry, status=change["status"], updated_at=change["at"], history=[*entry.history, change])
        self.lake.write_json(self._entry_key(entry.version), asdict(updated))
        return updated

    def _entry_key(self, version: str) -> str:
        if not version or "/" in version or version.startswith("."):
            raise RegistryError(f"{version!r} is not a model version")
        return f"{self.prefix}/versions/{version}.json"
