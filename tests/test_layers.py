"""The layer rules (STYLE.md, "Layout") as import-linter contracts, checked on every test run."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
PACKAGES = ("retail_assets", "retail_model", "retail_api")


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(project), "HOME": str(project)}
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_every_layer_contract_is_kept():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout


def test_a_dagster_import_in_the_shared_package_breaks_the_build(tmp_path):
    """The contracts are live: the API's dependency on retail_model must never pull in dagster."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shared = tmp_path / "retail_model" / "labels.py"
    shared.write_text(shared.read_text() + "\nimport dagster  # noqa\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "retail_model is shared by training and serving" in done.stdout and "BROKEN" in done.stdout
