"""The Dagster code location: everything under defs/ (assets, checks, sensors, schedules, resources)."""

import pkgutil
import warnings
from pathlib import Path

import dagster as dg

import retail_assets.defs
from retail_assets.defs.cadence import with_sensor_interval
from retail_assets.settings import get_environment


@dg.definitions
def defs() -> dg.Definitions:
    """What `load_from_defs_folder` loads, without the JSON schema of every component type the
    installed Dagster packages offer, which it adds for the `dg` tooling's component catalog: this
    project declares no YAML components, and building those schemas was about three quarters of
    each load (paid by the CLI, every run worker and every step process; bench/README.md)."""
    tree = dg.ComponentTree.for_project(path_within_project=Path(__file__).parent)
    with warnings.catch_warnings():
        # As load_from_defs_folder does: its module loader is a preview API and the assets' BackfillPolicy
        # a beta one; a deprecation still warns.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        loaded = tree.build_defs(tree.defs_module_path)
    with_executor = dg.Definitions.merge(loaded, dg.Definitions(executor=_step_executor(), component_tree=tree))
    return with_sensor_interval(with_executor, get_environment().sensor_interval_seconds)


def _step_executor() -> dg.ExecutorDefinition:
    """Dagster's default executor, its step processes forked from a server that imported the code location once.

    Started fresh, each step process imports Dagster, polars, deltalake, scikit-learn and the code
    location before it runs (seconds per step, most of a short run); forked, it starts with them.
    A run can still ask for `execution: {config: {in_process: {}}}`.
    """
    package = retail_assets.defs
    modules = ["dagster", __name__, *(m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}."))]
    return dg.multi_or_in_process_executor.configured({"multiprocess": {"start_method": {"forkserver": {"preload_modules": modules}}}})
