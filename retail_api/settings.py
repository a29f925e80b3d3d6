"""API settings, read from the environment once, when the app is created (never at import).

The lake, the registry backend, the model group and AWS are the definitions the pipeline uses
too (`retail_model.settings.SharedSettings`); only what is the API's own is declared here.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from retail_model.lake import Lake, open_lake
from retail_model.registry import ModelRegistry, open_registry
from retail_model.settings import ConfigurationError, SharedSettings

MiB = 1024 * 1024
# The rule the release applies to the version it writes into the pods' ConfigMap (release/manifests.py).
_MODEL_VERSION = re.compile(r"^[A-Za-z0-9._-]+$")


class Settings(SharedSettings):
    """`RETAIL_API_KEY` (or `RETAIL_API_KEY_FILE`), `RETAIL_MODEL_VERSION`, size limits, the prediction log, plus the shared `RETAIL_LAKE`, ..."""

    # When set, every /v1 request must send it in the X-API-Key header; probes and /metrics stay open.
    api_key: SecretStr | None = None
    # The same key read from a file (a mounted Kubernetes secret); one of the two, not both.
    api_key_file: Path | None = None
    model_poll_seconds: float = Field(default=2.0, gt=0)
    # RETAIL_MODEL_VERSION: serve exactly this registry version, loaded once at start-up, and never
    # follow the registry's serving pointer. An EKS release writes it into the pods' settings
    # ConfigMap. Unset or empty: follow the serving pointer and hot-swap (the local mode).
    model_version: str | None = None
    # After a failed model load the store retries with doubling waits (from the poll interval) up to this.
    model_retry_max_seconds: float = Field(default=300.0, gt=0)

    # Size limits: over any of them a request is answered 413 before it is scored.
    max_body_bytes: int = Field(default=4 * MiB, ge=1024)
    max_batch_baskets: int = Field(default=1000, ge=1)
    max_basket_lines: int = Field(default=500, ge=1)

    # The prediction log: answers spooled to local disk, shipped to the lake's predictions/ Delta table.
    prediction_log: bool = True
    prediction_log_capture_percent: float = Field(default=100.0, ge=0, le=100)  # share of requests recorded
    prediction_log_flush_seconds: float = Field(default=5.0, gt=0)  # a spool segment is sealed and shipped this often
    prediction_log_batch_rows: int = Field(default=20_000, ge=1)  # ... or when it holds this many rows
    prediction_log_queue_rows: int = Field(default=200_000, ge=1)  # in memory; beyond this, new rows are dropped (and counted)
    prediction_log_spool: Path | None = None  # default: beside a local lake, or under the temp folder
    prediction_log_spool_max_bytes: int = Field(default=1 << 30, ge=1)  # beyond this, new rows are dropped (and counted)

    @field_validator("api_key", "api_key_file", "model_version", mode="before")
    @classmethod
    def _blank_means_unset(cls, value: object) -> object:
        # `RETAIL_API_KEY=` in a compose file or manifest means "no key", not "the empty key";
        # `RETAIL_MODEL_VERSION=` (the base ConfigMap's value) means "follow the serving pointer".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("model_version")
    @classmethod
    def _a_version_name(cls, value: str | None) -> str | None:
        if value is not None and not _MODEL_VERSION.match(value.strip()):
            raise ValueError(f"RETAIL_MODEL_VERSION={value!r}: a model version holds only letters, digits, '.', '_' and '-'")
        return None if value is None else value.strip()

    @model_validator(mode="after")
    def _one_key_source(self) -> Settings:
        if self.api_key is not None and self.api_key_file is not None:
            raise ValueError("set RETAIL_API_KEY or RETAIL_API_KEY_FILE, not both")
        return self

    def resolved_api_key(self) -> bytes | None:
        """The key requests must present, or None when the API is open. Reads the key file once."""
        if self.api_key is not None:
            return self.api_key.get_secret_value().encode()
        if self.api_key_file is None:
            return None
        try:
            key = self.api_key_file.read_text().strip()
        except OSError as error:
            raise ConfigurationError(
                f"RETAIL_API_KEY_FILE={self.api_key_file} cannot be read ({error.strerror}); mount the secret or unset it"
            ) from error
        if not key:
            raise ConfigurationError(f"RETAIL_API_KEY_FILE={self.api_key_file} is empty; put the key in it or unset it")
        return key.encode()

    def open_lake(self) -> Lake:
        return open_lake(self.lake, self.aws)

    def open_registry(self, lake: Lake) -> ModelRegistry:
        return open_registry(self, lake)
