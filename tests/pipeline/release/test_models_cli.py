"""`retail-mlops models list|approve|reject`, as a person uses them on a lake."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.training_data import train_small_model
from typer.testing import CliRunner

from retail_assets.cli import app
from retail_assets.release.approvals import next_release
from retail_assets.release.turns import release_turn
from retail_model.lake import LocalLake
from retail_model.registry import APPROVED, PENDING, REJECTED, LakeModelRegistry


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("cli-model"))[0]


@pytest.fixture
def registry(pipeline_run, trained, tmp_path, monkeypatch) -> LakeModelRegistry:
    """v1 released, then v3 released over it; v2 waits for approval. Gold baskets for smoke tests."""
    lake = LocalLake(tmp_path / "lake")
    shutil.copytree(pipeline_run.lake / "gold", lake.path("gold"))
    registry = LakeModelRegistry(lake)
    for version, status in (("v1", APPROVED), ("v2", PENDING), ("v3", APPROVED)):
        lake.upload_directory(trained, f"models/{version}")
        registry.register(version, lake.uri_of(f"models/{version}"), "1", {"macro_f1": 0.91, "accuracy": 0.92}, status,
                          reason="passed the promotion gate", actor="promotion-gate")
    registry.record_release("v1")
    registry.record_release("v3")
    monkeypatch.setenv("RETAIL_LAKE", str(lake.root))
    return registry


def models(*args: str):
    return CliRunner().invoke(app, ["models", *args])


def said(done) -> str:
    return " ".join(done.output.split())  # as read, whatever the line wrapping


def test_list_shows_every_version_its_status_and_which_serves(registry):
    done = subprocess.run([str(Path(sys.executable).parent / "retail-mlops"), "models", "list"],
                          capture_output=True, text=True, timeout=120, check=False, env=None)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if line.split()[1:2] in (["v1"], ["v2"], ["v3"])}
    assert "Approved" in lines["v1"] and "PendingManualApproval" in lines["v2"] and "<- serving" in lines["v3"]
    assert "0.910" in lines["v1"] and "promotion-gate" in lines["v2"]


def test_approve_records_who_and_why_for_the_sensor_to_release(registry):
    done = models("approve", "v2", "--reason", "checked the anonymous baskets", "--by", "ana")
    assert done.exit_code == 0, done.output
    assert "v2 is Approved" in said(done) and "model_approval_sensor" in said(done)
    entry = registry.get("v2")
    assert entry.status == APPROVED and entry.history[-1] | {"at": ""} == {
        "status": APPROVED, "reason": "checked the anonymous baskets", "actor": "ana", "at": ""}
    assert registry.released().version == "v3"  # releasing is the sensor's job, after a smoke test


def test_rejecting_the_serving_version_rolls_back_to_the_previous_approved_one(registry):
    done = models("reject", "v3", "--reason", "bad on the new store format", "--by", "bo")
    assert done.exit_code == 0, done.output
    assert "rolled back to v1" in said(done)
    assert registry.get("v3").status == REJECTED
    release = registry.released()
    assert (release.version, release.previous_version, release.actor) == ("v1", "v3", "bo")
    assert release.reason == "rollback: v3 rejected by bo: bad on the new store format"


def test_rejecting_during_a_release_records_the_rejection_and_leaves_the_rollback_to_the_sensor(registry):
    """A release holds its turn (the lock api_release takes, here held by the test as that run
    would): the rejection lands at once, serving does not switch under the release, and what the
    approval sensor releases next is the rollback."""
    with release_turn(registry.lake, registry):
        done = models("reject", "v3", "--reason", "bad on the new store format", "--by", "bo", "--wait", "0.5")
        assert done.exit_code == 1, done.output
        assert "a release is still in progress after 0.5 s, so serving has not rolled back yet" in said(done)
        assert registry.get("v3").status == REJECTED
        assert registry.released().version == "v3"
    request = next_release(registry)
    assert request is not None and request.version == "v1" and request.reason.startswith("rollback: v3 is Rejected")


def test_rejecting_the_last_approved_release_says_nothing_serves_and_what_to_do(registry):
    assert models("reject", "v3", "--reason", "bad on the new store format", "--by", "bo").exit_code == 0
    done = models("reject", "v1", "--reason", "leaks the test weeks", "--by", "bo")
    assert done.exit_code == 1
    assert "nothing to roll back to: v1 is Rejected, so the API serves no model (predictions answer 503)" in said(done)
    assert "retail-mlops models approve VERSION" in said(done)
    assert registry.serving_entry() is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("approve", "v9", "--reason", "x"), "'v9' is not registered"),
        (("approve", "v1", "--reason", "x"), "already Approved"),
        (("reject", "v2", "--reason", ""), "needs a reason"),
    ],
)
def test_refusals_say_why(registry, args, message):
    done = models(*args)
    assert done.exit_code == 1 and message in said(done)


def test_a_rejected_version_cannot_be_approved_again(registry):
    assert models("reject", "v2", "--reason", "overfits week 3", "--by", "bo").exit_code == 0
    done = models("approve", "v2", "--reason", "please", "--by", "ana")
    assert done.exit_code == 1 and "a rejected version stays rejected" in said(done)
