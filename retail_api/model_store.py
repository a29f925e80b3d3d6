"""The model the API serves: the version its settings pin, or the registry's release, hot-swapped.

Two ways to choose it:
- pinned (`RETAIL_MODEL_VERSION`, what an EKS release writes into the pods' ConfigMap): exactly
  that registry version is loaded once, at start-up, and the serving pointer is never followed.
  If it cannot be loaded (not registered, not Approved, a broken artefact) nothing serves: the
  pod is not ready, so a bad pin fails the rollout instead of serving something else.
- following (no pin, the local mode): a background task polls the registry (`ModelRegistry`:
  JSON in the lake on a disk or S3, or SageMaker's Model Registry); when the released version
  changes it loads the new model off the event loop with its compiled scorer (saved with the model
  and checked against the pipeline when training saved it; compiled and checked here when the
  model has none: retail_model.artifact), prepares its lookups, and only then swaps one
  reference. A request takes that reference once, so it is answered wholly by the old model or
  wholly by the new one.

A model that fails to load (any error: a missing artefact, a broken pickle, S3 unreachable) is
logged, counted and retried with doubling waits; the current one keeps serving meanwhile. A
version that is no longer Approved stops serving when nothing Approved can replace it: the
registry's rejection is obeyed even when there is nothing to roll back to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from retail_model.artifact import PriceSensitivityModel
from retail_model.registry import APPROVED, ModelRegistry, RegistryEntry, RegistryError

log = logging.getLogger(__name__)

WHAT_TO_DO = (
    "approve a version (`retail-mlops models approve VERSION --reason ...`) or train a new one, then release it"
)


@dataclass(frozen=True)
class Serving:
    """What serves, swapped as one object: the model, its registry entry, when it was loaded."""

    model: PriceSensitivityModel
    entry: RegistryEntry
    loaded_at: str


class ModelStore:
    def __init__(
        self,
        registry: ModelRegistry,
        poll_seconds: float = 2.0,
        *,
        pinned_version: str | None = None,
        retry_max_seconds: float = 300.0,
        on_serving: Callable[[PriceSensitivityModel, bool], None] | None = None,
        on_load_failure: Callable[[], None] | None = None,
        on_stopped: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.poll_seconds = poll_seconds
        self.pinned_version = pinned_version
        self.retry_max_seconds = retry_max_seconds
        self.on_serving = on_serving  # (model, swapped): after every load; swapped is False for the first
        self.on_load_failure = on_load_failure
        self.on_stopped = on_stopped
        self.serving: Serving | None = None
        self.last_error: str | None = None
        self._clock = clock
        self._attempted: tuple | None = None  # the registry state last acted on, loaded or not
        self._failures = 0  # consecutive failed loads of that state
        self._retry_at = 0.0  # no new attempt at the same state before this (clock seconds)
        self._logged: str | None = None  # the last problem logged, so each is logged once
        self._task: asyncio.Task | None = None

    @property
    def model(self) -> PriceSensitivityModel | None:
        serving = self.serving
        return None if serving is None else serving.model

    @property
    def pinned(self) -> bool:
        return self.pinned_version is not None

    def refresh(self) -> bool:
        """Bring what serves in line with the registry; True when a model was (re)loaded.

        Blocking (registry reads, unpickling): call it from a worker thread inside the event loop.
        """
        return self._refresh_pinned() if self.pinned_version is not None else self._refresh_following()

    # -- pinned: one version, loaded once -------------------------------------------------------

    def _refresh_pinned(self) -> bool:
        version = self.pinned_version
        if self.serving is None and self._clock() < self._retry_at:
            return False
        try:
            entry = self.registry.get(version)
        except RegistryError as error:  # not registered (a typo, another group, or deleted since)
            self._stop_or_refuse(f"RETAIL_MODEL_VERSION={version} cannot be served: {error}; pin a registered, Approved version "
                                 "(`retail-mlops models list`) or leave RETAIL_MODEL_VERSION empty to follow the release")
            return False
        except Exception as error:  # noqa: BLE001 - unreachable registry: transient, try again later
            message = f"cannot read model version {version} from the registry {self.registry!r}: {error}"
            if self.serving is None:
                self._failed(message)
            else:  # the loaded model keeps serving; its status is asked again at the next poll
                self._record_failure(message)
            return False
        if entry.status != APPROVED:
            self._stop_or_refuse(f"the pinned model version {version} (RETAIL_MODEL_VERSION) is {entry.status}{_why(entry)}; "
                                 f"only an Approved version serves: {WHAT_TO_DO} (a release pins the pods to it)")
            return False
        if self.serving is not None:
            return False  # loaded once: the pin never changes while the process runs
        return self._load(entry)

    # -- following the registry's serving pointer -----------------------------------------------

    def _refresh_following(self) -> bool:
        try:
            entry = self.registry.serving_entry()
            released = self.registry.released()
        except Exception as error:  # noqa: BLE001 - unreachable, or half-edited JSON: keep serving, try again
            self._record_failure(f"cannot read the model registry {self.registry!r}: {error}")
            return False
        if entry is None:
            self._nothing_may_serve(released)
            return False
        state = (entry.version, entry.model_uri, entry.updated_at, released.released_at if released else None)
        if self.model is not None and self.model.version == entry.version:
            self._attempted, self._failures = state, 0
            return False
        if state != self._attempted:  # a new release: try it now, whatever failed before
            self._attempted, self._failures, self._retry_at = state, 0, 0.0
        elif self._clock() < self._retry_at:
            return False  # the same release failed recently: wait out the backoff
        if self._load(entry):
            return True
        if self.serving is not None:  # a rejected model must not keep serving because its successor failed
            self._stop_unless_approved(self.serving.entry.version, f"model version {entry.version}, which should replace it, could not be loaded")
        return False

    def _nothing_may_serve(self, released) -> None:
        """The registry names no version to serve: none released and none Approved, or the
        released one was rejected and no earlier release is still Approved."""
        if self.serving is not None:
            self._stop_unless_approved(self.serving.entry.version, "no earlier release is still Approved")
            return
        why = f"no released or Approved model in {self.registry!r}"
        if released is not None:
            with contextlib.suppress(Exception):  # only for the message: the plain one will do
                entry = self.registry.get(released.version)
                why = f"the released model version {entry.version} is {entry.status}{_why(entry)} and no earlier release is still Approved"
        self.last_error = f"{why}: {WHAT_TO_DO}"

    def _stop_unless_approved(self, version: str, instead: str) -> None:
        try:
            entry = self.registry.get(version)
        except RegistryError:
            self._stop(f"model version {version} is no longer in the registry {self.registry!r}: {WHAT_TO_DO}")
            return
        except Exception:  # noqa: BLE001 - cannot tell now: keep serving, the next poll asks again
            return
        if entry.status != APPROVED:
            self._stop(f"model version {version} is {entry.status}{_why(entry)} and {instead}, so it no longer serves: {WHAT_TO_DO}")

    # -- loading, failing, stopping -------------------------------------------------------------

    def _load(self, entry: RegistryEntry) -> bool:
        try:
            model = self.registry.load_model(entry)
            scorer = model.prepare()  # compile and check now: the first request must not pay for it
        except Exception as error:  # noqa: BLE001 - any failure (even a transient one) is retried with backoff
            self._failed(f"model version {entry.version} could not be loaded: {error}")
            return False
        previous = self.model.version if self.model else None
        # One assignment swaps the model: requests already holding the old one finish on it.
        self.serving, self.last_error, self._failures, self._retry_at = Serving(model, entry, _now()), None, 0, 0.0
        log.info("serving model version %s (was %s%s) with the %s scorer", model.version, previous,
                 ", pinned by RETAIL_MODEL_VERSION" if self.pinned else "", scorer.kind)
        if self.on_serving is not None:
            self.on_serving(model, previous is not None)
        return True

    def _failed(self, message: str) -> None:
        self._failures += 1
        wait = min(self.poll_seconds * 2 ** (self._failures - 1), self.retry_max_seconds)
        self._retry_at = self._clock() + wait
        self._record_failure(f"{message} (attempt {self._failures}; next try in {wait:g} s)", key=message)
        if self.on_load_failure is not None:
            self.on_load_failure()

    def _stop_or_refuse(self, message: str) -> None:
        if self.serving is not None:
            self._stop(message)
        else:
            self._failed(message)

    def _stop(self, message: str) -> None:
        stopped = self.serving
        self.serving, self.last_error = None, message
        if stopped is not None:
            log.error("%s; model version %s stopped serving", message, stopped.entry.version)
            if self.on_stopped is not None:
                self.on_stopped()

    def _record_failure(self, message: str, key: str | None = None) -> None:
        key = key or message
        if key != self._logged:  # once per distinct problem, not once per retry
            serving = f"version {self.model.version} keeps serving" if self.model else "no model is serving"
            log.error("%s; %s", message, serving)
            self._logged = key
        self.last_error = message

    # -- the poller -----------------------------------------------------------------------------

    def start_polling(self) -> None:
        self._task = asyncio.create_task(self._poll(), name="model-store-poll")

    async def stop_polling(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # a poller that dies silently would freeze the served version
                log.exception("model refresh failed; the current model keeps serving")


def _why(entry: RegistryEntry) -> str:
    last = entry.history[-1] if entry.history else None
    if not last or last.get("status") != entry.status:
        return ""
    return f" ({last.get('reason') or 'no reason recorded'}, by {last.get('actor') or 'unknown'})"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
