"""The one place the environment is read: at definitions-load time (or by the CLI), never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(Exception):
    """The environment asks for something this installation cannot do; the message says what to set."""


class RetailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETAIL_", extra="ignore")

    mode: Literal["local", "aws"] = "local"
    lake: str = "./.retail"
    min_macro_f1: float = 0.6  # the promotion gate's quality floor
    auto_approve: bool = True  # local mode: a model that passes the gate is Approved


def get_environment() -> RetailSettings:
    settings = RetailSettings()
    if settings.mode == "aws":
        raise ConfigurationError(
            "RETAIL_MODE=aws is not available in this release yet: the S3 lake, SageMaker training "
            "and EKS release are being built. Unset RETAIL_MODE (or set it to 'local') to run locally."
        )
    if settings.lake.startswith("s3://"):
        raise ConfigurationError(f"RETAIL_LAKE={settings.lake} is an S3 address; local mode needs a directory")
    return settings


def lake_root(settings: RetailSettings) -> Path:
    return Path(settings.lake).expanduser().resolve()
