"""API settings, read from the environment once, when the app is created (never at import)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retail_features.registry import DEFAULT_GROUP


class Settings(BaseSettings):
    """`RETAIL_LAKE`, `RETAIL_API_KEY`, `RETAIL_MODEL_POLL_SECONDS`, `RETAIL_MODEL_GROUP`."""

    model_config = SettingsConfigDict(env_prefix="RETAIL_", extra="ignore")

    lake: Path = Path("./.retail")
    # When set, every /v1 request must send it in the X-API-Key header; probes stay open.
    api_key: SecretStr | None = None
    model_poll_seconds: float = Field(default=2.0, gt=0)
    model_group: str = DEFAULT_GROUP

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_means_unset(cls, value: object) -> object:
        # `RETAIL_API_KEY=` in a compose file or manifest means "no key", not "the empty key".
        return None if isinstance(value, str) and not value.strip() else value
