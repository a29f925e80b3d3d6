"""The cost estimate is computed from the code (infra/cost.py), shown as is in infra/COST.md, and
within the budget Terraform sets (monthly_budget_usd). No AWS call: prices are the script's
declared list prices, usage its declared assumptions; everything else is read from infra/,
deploy/ and the settings.
"""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest

from tests.helpers.deploy_tools import INFRA, terraform_variable_default


@pytest.fixture(scope="module")
def cost():
    spec = importlib.util.spec_from_file_location("infra_cost", INFRA / "cost.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def total(cost, given: dict) -> float:
    return sum(line.dollars for line in cost.estimate(given))


def test_the_estimate_fits_the_budget_variable(cost):
    given = cost.inputs()
    assert given["budget"] == terraform_variable_default(INFRA / "envs" / "prod" / "variables.tf", "monthly_budget_usd")
    assert total(cost, given) <= given["budget"], cost.report(given, cost.estimate(given))


def test_cost_md_shows_the_scripts_output(cost):
    given = cost.inputs()
    text = (INFRA / "COST.md").read_text()
    shown = re.search(r"<!-- infra/cost.py -->\n```text\n(.*?)\n```\n<!-- /infra/cost.py -->", text, re.S)
    assert shown, "infra/COST.md must embed the output of `python infra/cost.py` between its markers"
    assert shown.group(1) == cost.report(given, cost.estimate(given)), "infra/COST.md is stale: paste `python infra/cost.py` again"


def test_check_fails_when_the_estimate_exceeds_the_budget(cost, monkeypatch, capsys):
    real = cost.inputs()
    monkeypatch.setattr(cost, "inputs", lambda: {**real, "budget": total(cost, real) - 1})
    assert cost.main(["--check"]) == 1
    assert "over budget" in capsys.readouterr().err
    monkeypatch.setattr(cost, "inputs", lambda: real)
    assert cost.main(["--check"]) == 0


def test_the_previous_defaults_were_over_budget(cost):
    """Before issue 20: a prediction-log commit every 5 s, seven interface endpoints, flow logs at
    the standard class, 50 GB node volumes, 30 images kept per repository."""
    given = {**cost.inputs(), "log_flush_seconds": 5.0, "flow_log_class": "STANDARD", "node_volume_gb": 50, "images_kept": 30,
             "endpoints": ["ecr.api", "ecr.dkr", "logs", "monitoring", "sts", "sagemaker.api", "sagemaker.runtime"]}  # fmt: skip
    assert total(cost, given) > given["budget"]


@pytest.mark.parametrize(
    ("change", "line"),
    [({"training_spot": False}, "SageMaker training"), ({"log_flush_seconds": 5.0}, "prediction log"), ({"nodes": 3}, "EC2 nodes"),
     ({"capture_percent": 0}, "prediction log")],
)  # fmt: skip
def test_the_estimate_moves_with_what_the_code_says(cost, change, line):
    given = cost.inputs()
    before = next(item.dollars for item in cost.estimate(given) if line in item.item)
    after = next(item.dollars for item in cost.estimate({**given, **change}) if line in item.item)
    assert after != before
