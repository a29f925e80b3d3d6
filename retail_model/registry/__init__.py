"""The model registry: one interface (base.py), a backend per module (lake.py, sagemaker.py)."""

from retail_model.lake import Lake
from retail_model.registry.base import (
    APPROVAL_STATES,
    APPROVED,
    DEFAULT_GROUP,
    PENDING,
    REJECTED,
    ModelRegistry,
    RegistryEntry,
    RegistryError,
    Release,
    VersionExistsError,
    model_directory_uri,
    now,
    status_change,
)
from retail_model.registry.lake import LakeModelRegistry
from retail_model.settings import SharedSettings

__all__ = [
    "APPROVAL_STATES", "APPROVED", "DEFAULT_GROUP", "PENDING", "REJECTED", "LakeModelRegistry", "ModelRegistry",
    "RegistryEntry", "RegistryError", "Release", "VersionExistsError", "model_directory_uri", "now", "open_registry",
    "status_change",
]


def open_registry(settings: SharedSettings, lake: Lake) -> ModelRegistry:
    """The one place the registry backend is chosen (RETAIL_REGISTRY, else the mode's default)."""
    if settings.registry_backend == "local":
        return LakeModelRegistry(lake, settings.model_group)
    from retail_model.registry.sagemaker import SageMakerModelRegistry  # boto3 only when asked for

    return SageMakerModelRegistry(lake, settings.model_group, settings.aws)
