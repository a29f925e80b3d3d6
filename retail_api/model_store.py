"""The model the API serves, kept in step with the registry's release without a restart.

A background task polls the registry (`ModelRegistry`: JSON in the lake on a disk or S3, or
SageMaker's Model Registry); when the released version changes it
loads the new model off the event loop, compiles its scorer and checks it against the pipeline
(retail_model.scoring), and only then swaps one reference. A request takes that reference once,
so it is answered wholly by the old model or wholly by the new one, and none is dropped. A model
that fails to load or to score is logged and refused, and the current one keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from retail_model.artifact import ModelLoadError, PriceSensitivityModel
from retail_model.lake import LakeError
from retail_model.registry import ModelRegistry, RegistryEntry, RegistryError

log = logging.getLogger(__name__)


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
        on_serving: Callable[[PriceSensitivityModel, bool], None] | None = None,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        self.registry = registry
        self.poll_seconds = poll_seconds
        self.on_serving = on_serving  # (model, swapped): after every load; swapped is False for the first
        self.on_refused = on_refused
        self.serving: Serving | None = None
        self.last_error: str | None = None
        self._attempted: tuple | None = None  # the registry state last acted on, loaded or not
        self._task: asyncio.Task | None = None

    def refresh(self) -> bool:
        """Load the registry's serving version unless it is already served; True on a swap.

        Blocking (file reads, unpickling): call it from a worker thread inside the event loop.
        """
        try:
            entry = self.registry.serving_entry()
            released = self.registry.released()
        except (RegistryError, LakeError, OSError, ValueError, TypeError) as error:  # unreachable, or half-edited JSON
            self._record_failure(f"cannot read the model registry {self.registry!r}: {error}")
            return False
        if entry is None:
            if self.model is None:
                self.last_error = f"no released or Approved model in {self.registry!r}; train, approve and release one"
            return False
        state = (entry.version, entry.model_uri, entry.updated_at, released.released_at if released else None)
        if state == self._attempted:
            return False  # unchanged since the last try: no reload, no repeated error log
        self._attempted = state
        if self.model is not None and self.model.version == entry.version:
            return False
        try:
            model = self.registry.load_model(entry)
            scorer = model.prepare()  # compile and check now: the first request must not pay for it
        except ModelLoadError as error:
            self._record_failure(f"model version {entry.version} could not be loaded: {error}")
            if self.on_refused is not None:
                self.on_refused()
            return False
        previous = self.model.version if self.model else None
        # One assignment swaps the model: requests already holding the old one finish on it.
        self.serving, self.last_error = Serving(model, entry, _now()), None
        log.info("serving model version %s (was %s) with the %s scorer", model.version, previous, scorer.kind)
        if self.on_serving is not None:
            self.on_serving(model, previous is not None)
        return True

    @property
    def model(self) -> PriceSensitivityModel | None:
        serving = self.serving
        return None if serving is None else serving.model

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

    def _record_failure(self, message: str) -> None:
        if message != self.last_error:  # once per distinct problem, not once per poll
            serving = f"version {self.model.version} keeps serving" if self.model else "no model is serving"
            log.error("%s; %s", message, serving)
        self.last_error = message


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
