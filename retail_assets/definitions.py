"""The Dagster code location: everything under defs/ (assets, checks, sensors, schedules, resources)."""

import os
import pkgutil
import warnings
from pathlib import Path

import dagster as dg

import retail_assets.defs
from retail_assets.defs.cadence import with_sensor_interval
from retail_assets.settings import get_environment


# The last definitions built, by the settings they were built with: the variables that configure
# this project, its AWS clients and Dagster (libraries set others of their own when first imported).
_SETTINGS_PREFIXES = ("RETAIL_", "AWS_", "DAGSTER_", "SAGEMAKER_", "KUBECONFIG")
_built: dict[frozenset, dg.Definitions] = {}


@dg.definitions
def defs() -> dg.Definitions:
    """What `load_from_defs_folder` loads, without the JSON schema of every component type the
    installed Dagster packages offer, which it adds for the `dg` tooling's component catalog: this
    project declares no YAML components, and building those schemas was about three quarters of
    each load (paid by the CLI, every run worker and every step process; bench/README.md).

    Built once per process and settings: Dagster reconstructs the definitions twice in each
    step process (for the step's plan, then for its context), about 0.5 s each on a 2-core machine.
    """
    environment = frozenset((name, value) for name, value in os.environ.items() if name.startswith(_SETTINGS_PREFIXES))
    if environment not in _built:
        _built.clear()
        _built[environment] = _build()
    return _built[environment]


def _build() -> dg.Definitions:
    tree = dg.ComponentTree.for_project(path_within_project=Path(__file__).parent)
    with warnings.catch_warnings():
        # As load_from_defs_folder does: its module loader is a preview API and the assets' BackfillPolicy
        # a beta one; a deprecation still warns.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        loaded = tree.build_defs(tree.defs_module_path)
    with_executor = dg.Definitions.merge(loaded, dg.Definitions(executor=_step_executor(), component_tree=tree))
    return with_sensor_interval(with_executor, get_environment().sensor_interval_seconds)


# What a step process needs besides the code location: the storage of the instance it reports to.
# Dagster imports it lazily, when the step process opens the instance, so a forked step still paid
# about 1.9 s of imports (SQLAlchemy, Alembic, the storage classes) before its step began
# (bench/step_workers.py). The SQLite instance the CLI and `make ui` write, and the Helm chart's
# PostgreSQL one with its S3 compute logs.
INSTANCE_MODULES = (
    "dagster._core.storage.legacy_storage",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
    "dagster._core.storage.local_compute_log_manager",
    "retail_assets.event_store",
    "dagster_postgres",
    "dagster_aws.s3.compute_log_manager",
    "alembic.runtime.migration",
    "alembic.script",
    "dagster._core.instance.factory",
    "dagster._core.storage.root",
    "dagster._core.storage.migration.utils",
    "dagster._core.secrets.env_file",
    "upath.implementations.local",
)


def step_preload_modules() -> list[str]:
    """What the step processes' server imports once per run: Dagster, the code location, the instance's storage."""
    package = retail_assets.defs
    return ["dagster", __name__, *(m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")), *INSTANCE_MODULES]


def _step_executor() -> dg.ExecutorDefinition:
    """Dagster's default executor, its step processes forked from a server that imported the code location once.

    Started fresh, each step process imports Dagster, polars, deltalake, scikit-learn and the code
    location before it runs (seconds per step, most of a short run); forked, it starts with them.
    The configuration is fixed: a run's `execution` config does not change it.
    """
    return dg.multi_or_in_process_executor.configured({"multiprocess": {"start_method": {"forkserver": {"preload_modules": step_preload_modules()}}}})
