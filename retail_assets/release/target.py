"""`ReleaseTarget`: put an Approved model version into service, or refuse and keep the current one.

Local: the release pointer in the registry, which the API polls and hot-swaps to. The EKS
target (aws mode) renders and applies the Kubernetes manifests and watches the rollout. Either
way the candidate must pass `smoke_test` before anything moves, and the registry's record of
what serves is written only once the new version is live. No Dagster import.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from retail_model.artifact import PriceSensitivityModel
from retail_model.registry import APPROVED, ModelRegistry, RegistryEntry, RegistryError, Release

SmokeTest = Callable[[PriceSensitivityModel], None]  # raises when the model must not serve


class ReleaseError(Exception):
    """The release did not happen; the version serving before keeps serving."""


class ReleaseTarget(ABC):
    @abstractmethod
    def release(self, entry: RegistryEntry, smoke_test: SmokeTest) -> Release: ...

    @abstractmethod
    def current(self) -> Release | None:
        """What serves now, as the registry records it."""


class RegistryPointerRelease(ReleaseTarget):
    """Local release: move the registry's release pointer, which the API polls (hot swap)."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def release(self, entry: RegistryEntry, smoke_test: SmokeTest) -> Release:
        if entry.status != APPROVED:
            raise ReleaseError(f"model {entry.version} is {entry.status}, not Approved: {self._keeps_serving()}")
        try:
            smoke_test(self.registry.load_model(entry))
        except Exception as error:  # any failure of the candidate means: do not release it
            raise ReleaseError(f"model {entry.version} failed its smoke test ({error}): {self._keeps_serving()}") from error
        try:
            return self.registry.record_release(entry.version)
        except RegistryError as error:
            raise ReleaseError(f"{error}: {self._keeps_serving()}") from error

    def current(self) -> Release | None:
        return self.registry.released()

    def _keeps_serving(self) -> str:
        current = self.current()
        return f"the API keeps serving {current.version if current else 'no model'}"
