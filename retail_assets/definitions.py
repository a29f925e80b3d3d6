"""The Dagster code location: everything under defs/ (assets, checks, sensors, schedules, resources)."""

from pathlib import Path

import dagster as dg

from retail_assets.defs.cadence import with_sensor_interval
from retail_assets.settings import get_environment


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return with_sensor_interval(loaded, get_environment().sensor_interval_seconds)
