"""Decisions about serving: what the approval sensor releases next, and rejecting with a rollback.

Two situations call for a release run:
- the serving version is no longer Approved (rejected at the CLI or in SageMaker): serve the
  latest earlier release that is still Approved (a rollback);
- a version was Approved *after* it was registered (a person, at the CLI or in SageMaker) and
  is newer than the serving one: release it. Versions the gate approved at registration are
  released by their own training run, so the sensor leaves them alone.
Each request has a run key, so a sensor restart never releases the same decision twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_assets.release.smoke import answers_real_baskets, gold_sample
from retail_assets.release.target import ReleaseTarget
from retail_assets.release.turns import RELEASE_LOCK_WAIT_SECONDS, release_turn
from retail_model.lake import Lake
from retail_model.registry import APPROVED, REJECTED, ModelRegistry, RegistryEntry, Release


@dataclass(frozen=True)
class ReleaseRequest:
    version: str
    reason: str
    run_key: str


def next_release(registry: ModelRegistry) -> ReleaseRequest | None:
    released = registry.released()
    entries = {e.version: e for e in registry.list_versions()}
    serving = entries.get(released.version) if released else None
    if serving is not None and serving.status != APPROVED:
        target = registry.rollback_target()
        if target is None:
            return None
        why = serving.history[-1]["reason"] if serving.history else serving.status
        return ReleaseRequest(target.version, f"rollback: {serving.version} is {serving.status} ({why})", f"rollback:{serving.version}:{target.version}")
    newer = [
        e for e in entries.values()
        if e.approved_by_decision and (serving is None or (e.created_at > serving.created_at and e.version != serving.version))
    ]
    if not newer:
        return None
    chosen = max(newer, key=lambda e: (e.created_at, e.version))
    decision = chosen.history[-1]
    return ReleaseRequest(chosen.version, f"approved by {decision['actor']}: {decision['reason']}", f"approved:{chosen.version}")


def reject_and_roll_back(
    registry: ModelRegistry, target: ReleaseTarget, lake: Lake, version: str, reason: str, actor: str,
    wait_seconds: float = RELEASE_LOCK_WAIT_SECONDS,
) -> tuple[RegistryEntry, Release | None]:
    """Reject a version; if it was serving, serve the latest earlier release still Approved.

    The rejection is recorded at once. The rollback takes its turn with releases (`release_turn`),
    so it never switches serving in the middle of another release's rollout, nor is undone by one
    that judged the rejected version before the rejection landed.

    Raises ReleaseError (after the rejection is recorded) when there is nothing to roll back to
    or the rollback target fails its smoke test; the registry then serves no rejected version
    (`serving_entry` skips it), and the message says what to do. Raises `LockBusyError` when
    another release held its turn for longer than `wait_seconds`; the model_approval_sensor rolls
    back once that release ends, since serving is no longer Approved.
    """
    entry = registry.decide(version, REJECTED, reason, actor)
    with release_turn(lake, registry, timeout=wait_seconds):
        released = registry.released()  # read under the lock: a release may have landed while we waited
        if released is None or released.version != version:
            return entry, None
        baskets = gold_sample(lake)
        rolled_back = target.rollback(lambda model: answers_real_baskets(model, baskets), f"{version} rejected by {actor}: {reason}", actor)
    return entry, rolled_back
