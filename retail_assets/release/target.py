"""`ReleaseTarget`: put an Approved model version into service, or refuse and keep the current one.

Local: the release pointer in the registry, which the API polls and hot-swaps to. The EKS
target (aws mode) renders and applies the Kubernetes manifests and watches the rollout. Either
way a version that is not Approved is refused, the candidate must pass `smoke_test` before
anything moves, and the registry's record of what serves is written only once the new version is
live. `rollback` serves the latest earlier release that is still Approved.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from retail_model.artifact import PriceSensitivityModel
from retail_model.registry import APPROVED, ModelRegistry, RegistryEntry, RegistryError, Release

SmokeTest = Callable[[PriceSensitivityModel], object]  # raises when the model must not serve


class ReleaseError(Exception):
    """The release did not happen; the version serving before keeps serving."""


class ReleaseTarget(ABC):
    registry: ModelRegistry

    @abstractmethod
    def release(self, entry: RegistryEntry, smoke_test: SmokeTest, reason: str = "", actor: str = "pipeline") -> Release: ...

    @abstractmethod
    def current(self) -> Release | None:
        """What serves now, as the registry records it."""

    def rollback(self, smoke_test: SmokeTest, reason: str, actor: str = "pipeline") -> Release:
        """Serve the latest earlier release whose version is still Approved (e.g. after rejecting the serving one)."""
        target = self.registry.rollback_target()
        if target is None:
            raise ReleaseError(f"no earlier release is still Approved, so there is nothing to roll back to: {self.keeps_serving()}")
        return self.release(target, smoke_test, reason=f"rollback: {reason}", actor=actor)

    def keeps_serving(self) -> str:
        current = self.current()
        if current is None:
            return "the API keeps serving no model"
        entry = self.registry.get(current.version)
        if entry.status != APPROVED:  # the API stops serving a version that is no longer Approved
            return (f"{current.version} is {entry.status}, so the API serves no model (predictions answer 503) until an "
                    "Approved version is released: approve one (`retail-mlops models approve VERSION --reason ...`) or train a new one")
        return f"the API keeps serving {current.version}"


class RegistryPointerRelease(ReleaseTarget):
    """Local release: move the registry's release pointer, which the API polls (hot swap)."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def release(self, entry: RegistryEntry, smoke_test: SmokeTest, reason: str = "", actor: str = "pipeline") -> Release:
        if entry.status != APPROVED:
            raise ReleaseError(f"model {entry.version} is {entry.status}, not Approved: {self.keeps_serving()}")
        try:
            smoke_test(self.registry.load_model(entry))
        except Exception as error:  # any failure of the candidate means: do not release it
            raise ReleaseError(f"model {entry.version} failed its smoke test ({error}): {self.keeps_serving()}") from error
        try:
            # record_release re-reads the status under the registry's lock: a rejection that
            # landed during the smoke test still stops the release.
            return self.registry.record_release(entry.version, reason=reason, actor=actor)
        except RegistryError as error:
            raise ReleaseError(f"{error}: {self.keeps_serving()}") from error

    def current(self) -> Release | None:
        return self.registry.released()
