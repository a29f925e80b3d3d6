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


def test_with_nothing_to_roll_back_to_a_rejected_release_leaves_nothing_to_serve(registry):
    """Not even a newer Approved version that was never released: it has not passed a release's smoke test."""
    register(registry, "v1")
    registry.record_release("v1")
    register(registry, "v2")  # Approved, never released (say its release failed the smoke test)
    registry.decide("v1", REJECTED, "leaks the test weeks", "ana")
    assert registry.rollback_target() is None
    assert registry.serving_entry() is None


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


HOLDER = """
import sys
from retail_model.lake import LockLostError, S3Lake

lake = S3Lake(sys.argv[1])
try:
    with lake.lock("registry/g/.lock", timeout=10, lease_seconds=float(sys.argv[2])):
        print("held", flush=True)
        sys.stdin.readline()  # hold until the test says so
    print("released", flush=True)
except LockLostError as error:
    print(f"lost: {error}", flush=True)
    sys.exit(3)
"""


def test_an_s3_lease_is_renewed_while_held_and_only_its_holder_deletes_it(aws):
    """A holder in its own process, against moto's server: it holds for longer than its lease
    and keeps it; then it stalls (SIGSTOP: a frozen process renews nothing), the next holder takes
    the lease over, and the stalled holder, woken, deletes nothing of its successor's lease."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers.paths import REPO
    from tests.helpers.processes import stop_process_group

    from retail_model.lake import LockBusyError

    uri, lease = f"s3://{aws.bucket}/lake", 2.0
    lake = S3Lake(uri, aws.settings())
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, uri, str(lease)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=os.environ | {"PYTHONPATH": str(REPO)}, start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        first = json.loads(lake.read_bytes("registry/g/.lock"))
        time.sleep(2 * lease)  # twice the lease: without renewal the next waiter would take it over
        with pytest.raises(LockBusyError), lake.lock("registry/g/.lock", timeout=lease, lease_seconds=lease):
            pass
        renewed = json.loads(lake.read_bytes("registry/g/.lock"))
        assert renewed["owner"] == first["owner"] and renewed["epoch"] > first["epoch"]

        os.kill(holder.pid, signal.SIGSTOP)  # the holder overruns: frozen, it renews nothing
        with lake.lock("registry/g/.lock", timeout=5 * lease, lease_seconds=lease):
            mine = json.loads(lake.read_bytes("registry/g/.lock"))["owner"]
            assert mine != first["owner"]
            os.kill(holder.pid, signal.SIGCONT)
            output, _ = holder.communicate("go\n", timeout=30)
            assert holder.returncode == 3 and output.startswith("lost: the lock"), output
            assert json.loads(lake.read_bytes("registry/g/.lock"))["owner"] == mine  # still the successor's lease
        assert not lake.exists("registry/g/.lock")
    finally:
        os.kill(holder.pid, signal.SIGCONT) if holder.poll() is None else None
        stop_process_group(holder)
