"""Settings shared by the pipeline and the API: the mode, the lake, the registry and AWS.

Read from the environment once, by whoever builds the backends (the Dagster layer's resources
module, the CLI, the API's app factory), never at import. AWS settings use the names boto3
itself reads (`AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`), so one set of variables points boto3,
polars and deltalake at the same place: a real account, or moto's server in the tests.
Credentials are not settings: boto3's own chain finds them (environment, profile, IRSA).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_GROUP = "price-sensitivity"


class ConfigurationError(Exception):
    """The environment asks for something this installation cannot do; the message says what to set."""


class AwsSettings(BaseSettings):
    """Where AWS is: None means boto3's defaults (the real endpoints of the configured region)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    region: str | None = Field(default=None, validation_alias=AliasChoices("AWS_DEFAULT_REGION", "AWS_REGION"))

    @field_validator("endpoint_url", "region", mode="before")
    @classmethod
    def _blank_means_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class SharedSettings(BaseSettings):
    """`RETAIL_MODE`, `RETAIL_LAKE`, `RETAIL_REGISTRY`, `RETAIL_MODEL_GROUP` and AWS."""

    model_config = SettingsConfigDict(env_prefix="RETAIL_", extra="ignore")

    mode: Literal["local", "aws"] = "local"
    # A directory (default ./.retail) or s3://bucket/prefix; the mode does not force either.
    lake: str = "./.retail"
    # Per-backend override of the mode's default (None = the mode decides).
    registry: Literal["local", "sagemaker"] | None = None
    model_group: str = DEFAULT_MODEL_GROUP
    aws: AwsSettings = Field(default_factory=AwsSettings)

    @field_validator("lake")
    @classmethod
    def _lake_is_a_directory_or_s3(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("RETAIL_LAKE is empty: set a directory or s3://bucket/prefix")
        if "://" in value and not value.startswith("s3://"):
            raise ValueError(f"RETAIL_LAKE={value}: only a directory or an s3://bucket/prefix address is supported")
        if value.startswith("s3://"):
            return value.rstrip("/")
        return str(Path(value).expanduser().resolve())

    @property
    def lake_on_s3(self) -> bool:
        return self.lake.startswith("s3://")

    @property
    def registry_backend(self) -> Literal["local", "sagemaker"]:
        return self.registry or ("sagemaker" if self.mode == "aws" else "local")
