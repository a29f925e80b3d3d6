"""Which code trained a model: recorded in the registry with the data and feature-set versions."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path


def code_version() -> str:
    """`git:<commit>` (plus `-dirty` for uncommitted changes) in a checkout, else the package version."""
    checkout = Path(__file__).resolve().parents[2]
    try:
        commit = _git(checkout, "rev-parse", "--short=12", "HEAD")
        dirty = _git(checkout, "status", "--porcelain", "--untracked-files=no")
        return f"git:{commit}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):  # an installed image has no .git: say which release
        return f"retail-mlops=={metadata.version('retail-mlops')}"


def _git(checkout: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(checkout), *args], capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()
