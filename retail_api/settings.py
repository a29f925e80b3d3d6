"""API settings, read from the environment once, when the app is created (never at import).

The lake, the registry backend, the model group and AWS are the definitions the pipeline uses
too (`retail_model.settings.SharedSettings`); only what is the API's own is declared here.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from retail_model.lake import Lake, open_lake
from retail_model.registry import ModelRegistry, open_registry
from retail_model.settings import SharedSettings


class Settings(SharedSettings):
    """`RETAIL_API_KEY`, `RETAIL_MODEL_POLL_SECONDS`, plus the shared `RETAIL_LAKE`, `RETAIL_REGISTRY`, ..."""

    # When set, every /v1 request must send it in the X-API-Key header; probes stay open.
    api_key: SecretStr | None = None
    model_poll_seconds: float = Field(default=2.0, gt=0)

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_means_unset(cls, value: object) -> object:
        # `RETAIL_API_KEY=` in a compose file or manifest means "no key", not "the empty key".
        return None if isinstance(value, str) and not value.strip() else value

    def open_lake(self) -> Lake:
        return open_lake(self.lake, self.aws)

    def open_registry(self, lake: Lake) -> ModelRegistry:
        return open_registry(self, lake)
