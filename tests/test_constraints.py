"""constraints.txt against pyproject.toml and the virtualenv it installed (Makefile, `make lock-dev`).

pip installs the project with `--constraint constraints.txt`. A pin changed in pyproject.toml
but not in constraints.txt makes that install fail with a resolver error that names neither file,
and a dependency added without `make lock-dev` is installed at whatever version is newest that
day: these tests say which, and what to run.
"""

from __future__ import annotations

from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement

from tests.helpers.deploy_tools import ROOT, canonical, parse_pins, pyproject_pins

PROJECT = "retail-mlops"
EXTRAS = ("test",)  # what `make install` installs: -e ".[test]"
REGENERATE = "run `make lock-dev` and commit constraints.txt"


def constraints() -> dict[str, str]:
    return parse_pins((ROOT / "constraints.txt").read_text().splitlines(), "constraints.txt")


def test_every_pin_of_pyproject_is_the_constraints_version():
    pinned, locked = pyproject_pins(EXTRAS), constraints()
    differ = {name: (version, locked.get(name)) for name, version in pinned.items() if locked.get(name) != version}
    assert not differ, f"pyproject.toml pins and constraints.txt differ (pyproject, constraints): {differ}: {REGENERATE}"


def test_every_package_the_project_needs_here_is_constrained_at_its_installed_version():
    """Walks the installed project's requirements (with the test extra), markers evaluated on this machine."""
    locked = constraints()
    environment = default_environment()
    seen: dict[str, str] = {}
    walked: set[tuple[str, frozenset[str]]] = set()  # a package asked for again with other extras needs more
    wanted = [(PROJECT, frozenset(EXTRAS))]
    while wanted:
        name, extras = wanted.pop()
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker and not any(requirement.marker.evaluate(environment | {"extra": extra}) for extra in ("", *extras)):
                continue
            seen[canonical(requirement.name)] = metadata.version(requirement.name)
            step = (canonical(requirement.name), frozenset(requirement.extras))
            if step not in walked:
                walked.add(step)
                wanted.append((requirement.name, step[1]))
    assert len(seen) > 100, f"only {len(seen)} requirements found: is the project installed (`make install`)?"
    missing = sorted(set(seen) - set(locked))
    assert not missing, f"installed for the project but not in constraints.txt: {missing}: {REGENERATE}"
    drifted = {name: (version, locked[name]) for name, version in seen.items() if locked[name] != version}
    assert not drifted, f"installed versions differ from constraints.txt (installed, constrained): {drifted}: run `make install`"
