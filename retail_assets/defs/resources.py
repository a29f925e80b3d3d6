"""The Dagster resources: every backend `retail_assets.backends` builds from the settings, by name."""

from dataclasses import fields

import dagster as dg

from retail_assets.backends import build_backends
from retail_assets.settings import get_environment


@dg.definitions
def resources() -> dg.Definitions:
    backends = build_backends(get_environment())
    return dg.Definitions(resources={field.name: getattr(backends, field.name) for field in fields(backends)})
