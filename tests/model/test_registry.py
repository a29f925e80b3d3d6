"""The model registry's rules, on a lake on disk and on S3 (moto's server): entries are never
overwritten, decisions are recorded with who and why, only Approved versions are released, and
what serves follows the release history when a serving version is rejected."""

from __future__ import annotations

import threading

import pytest
from tests.helpers.training_data import train_small_model

from retail_model.lake import LocalLake, S3Lake
from retail_model.registry import (
    APPROVED,
    PENDING,
    REJECTED,
    LakeModelRegistry,
    RegistryError,
    VersionExistsError,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("registry-model"))[0]


@pytest.fixture
def registry(tmp_path, trained) -> LakeModelRegistry:
    lake = LocalLake(tmp_path / "lake")
    for version in ("v1", "v2", "v3"):
        lake.upload_directory(trained, f"models/{version}")
    return LakeModelRegistry(lake)


def register(registry, version: str, status: str = APPROVED):
    return registry.register(version, registry.lake.uri_of(f"models/{version}"), "1", {"macro_f1": 0.9}, status,
                             reason="passed the promotion gate", actor="promotion-gate", lineage={"code_version": "git:abc"})


def test_a_version_is_registered_once_and_never_overwritten(registry):
    register(registry, "v1", REJECTED)
    with pytest.raises(VersionExistsError, match="already registered as Rejected"):
        register(registry, "v1", APPROVED)
    entry = registry.get("v1")
    assert entry.status == REJECTED
    assert entry.history == [{"status": REJECTED, "reason": "passed the promotion gate", "actor": "promotion-gate", "at": entry.created_at}]
    assert entry.lineage == {"code_version": "git:abc"}


def test_decisions_are_recorded_with_who_and_why_and_rejected_stays_rejected(registry):
    register(registry, "v1", PENDING)
    approved = registry.decide("v1", APPROVED, "checked the confusion matrix", "ana")
    assert approved.status == APPROVED and approved.approved_by_decision
    assert [(h["status"], h["actor"], h["reason"]) for h in approved.history] == [
        (PENDING, "promotion-gate", "passed the promotion gate"), (APPROVED, "ana", "checked the confusion matrix")]
    rejected = registry.decide("v1", REJECTED, "drifted on week 30", "bo")
    assert rejected.status == REJECTED and len(rejected.history) == 3
    with pytest.raises(RegistryError, match="a rejected version stays rejected"):
        registry.decide("v1", APPROVED, "changed my mind", "ana")
    with pytest.raises(RegistryError, match="needs a reason"):
        registry.decide("v1", REJECTED, "  ", "ana")
    with pytest.raises(RegistryError, match="is not registered"):
        registry.decide("nope", APPROVED, "x", "ana")


def test_only_an_approved_version_is_released_and_serving_follows_the_release_history(registry):
    register(registry, "v1")
    register(registry, "v2")
    register(registry, "v3", PENDING)
    with pytest.raises(RegistryError, match="only an Approved version can be released"):
        registry.record_release("v3")
    registry.record_release("v1")
    release = registry.record_release("v2", reason="better", actor="run 1")
    assert (release.version, release.previous_version, release.reason) == ("v2", "v1", "better")
    assert [r.version for r in registry.release_history()] == ["v1", "v2"]
    assert registry.serving_entry().version == "v2"

    registry.decide("v2", REJECTED, "bad on anonymous baskets", "ana")
    # The rejected version never serves, even before anyone rolls back: the previous release does.
    assert registry.released().version == "v2"
    assert registry.serving_entry().version == registry.rollback_target().version == "v1"
    assert registry.load_model(registry.serving_entry()).version == "v1"


def test_concurrent_releases_and_rejections_never_leave_a_rejected_version_released(registry):
    register(registry, "v1")
    register(registry, "v2")
    registry.record_release("v1")
    errors: list[Exception] = []

    def release():
        try:
            registry.record_release("v2")
        except RegistryError as error:
            errors.append(error)

    threads = [threading.Thread(target=release) for _ in range(4)]
    threads.append(threading.Thread(target=registry.decide, args=("v2", REJECTED, "withdrawn", "ana")))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Each release either happened before the rejection or was refused after it, never in between.
    releases_of_v2 = [r for r in registry.release_history() if r.version == "v2"]
    assert len(releases_of_v2) + len(errors) == 4
    assert all("Rejected" in str(e) for e in errors)
    assert registry.serving_entry().version == "v1"


def test_the_lock_on_s3_admits_one_holder_and_takes_over_a_dead_ones_lease(aws):
    lake = S3Lake(f"s3://{aws.bucket}/lake", aws.settings())
    inside, overlaps = [], []

    def hold():
        with lake.lock("registry/g/.lock", timeout=30):
            if inside:
                overlaps.append(True)
            inside.append(1)
            threading.Event().wait(0.05)
            inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert overlaps == [] and not lake.exists("registry/g/.lock")

    lake.write_bytes("registry/g/.lock", b'{"owner": "a crashed run", "epoch": 0}')  # a lease nobody will release
    with lake.lock("registry/g/.lock", timeout=5, lease_seconds=60):
        assert b"crashed" not in lake.read_bytes("registry/g/.lock")
