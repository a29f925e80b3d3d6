"""The layer rules (docs/architecture.md, "Layers") as import-linter contracts, checked on every test run."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.paths import REPO as REPO_ROOT

ROOT = REPO_ROOT
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
PACKAGES = ("retail_assets", "retail_model", "retail_api", "retail_training")


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(project), "HOME": str(project)}
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_every_layer_contract_is_kept():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 kept, 0 broken" in done.stdout


def copy_of_the_project(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def append_line(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}  # noqa\n")


def test_a_dagster_import_in_the_shared_package_breaks_the_build(tmp_path):
    """The contracts are live: the API's dependency on retail_model must never pull in dagster."""
    project = copy_of_the_project(tmp_path)
    append_line(project / "retail_model" / "labels.py", "import dagster")
    done = lint_imports(project)
    assert done.returncode != 0
    assert "retail_model is shared by training and serving" in done.stdout and "BROKEN" in done.stdout


def test_the_training_container_cannot_import_the_pipeline(tmp_path):
    project = copy_of_the_project(tmp_path)
    append_line(project / "retail_training" / "metrics.py", "import retail_assets.settings")
    done = lint_imports(project)
    assert done.returncode != 0
    assert "The training container runs retail_training on retail_model only" in done.stdout and "BROKEN" in done.stdout


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("retail_model/lake/delta.py", "retail_model.lake.base"),  # two modules of one package
        ("retail_assets/ingest/tables.py", "retail_assets.lake.tables"),  # two sibling packages
    ],
)
def test_an_import_circle_anywhere_breaks_the_build(tmp_path, importer, imported):
    project = copy_of_the_project(tmp_path)
    append_line(project / importer, f"import {imported}")
    done = lint_imports(project)
    assert done.returncode != 0
    assert "No import circles" in done.stdout and "BROKEN" in done.stdout
