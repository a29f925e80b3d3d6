from collections.abc import Iterator

import dagster as dg

from retail_assets.defs.asset_keys import REGISTERED, RELEASE
from retail_assets.release.judge import NoMetricsError, judge_at_release
from retail_assets.release.smoke import answers_real_baskets, gold_sample
from retail_assets.release.target import ReleaseError, ReleaseTarget
from retail_assets.release.turns import release_turn
from retail_assets.training.gate import PromotionGate
from retail_model.lake import Lake, LockBusyError
from retail_model.registry import APPROVED, PENDING, REJECTED, ModelRegistry, RegistryError

class ReleaseConfig(dg.Config):
    # Release exactly this version (the approval sensor sets it). Empty: the version this run
    # registered, else the latest registered_model materialization.
    version: str = ""
    reason: str = ""


@dg.asset(
    key=RELEASE,
    deps=[REGISTERED],
    kinds={"fastapi"},
    group_name="release",
    automation_condition=dg.AutomationCondition.eager(),
    output_required=False,  # a version waiting for approval is not released, and that is no failure
)
def api_release(
    context: dg.AssetExecutionContext,
    config: ReleaseConfig,
    lake: dg.ResourceParam[Lake],
    model_registry: dg.ResourceParam[ModelRegistry],
    release_target: dg.ResourceParam[ReleaseTarget],
    promotion_gate: dg.ResourceParam[PromotionGate],
) -> Iterator[dg.MaterializeResult]:
    """The model version the inference API serves: only an Approved version that passed its smoke test,
    judged against the model serving at release time (local: the API hot-swaps to it)."""
    version, source = _version_to_release(context, config, model_registry)
    try:
        with release_turn(lake, model_registry):
            yield from _release(context, config, version, source, lake, model_registry, release_target, promotion_gate)
    except LockBusyError as error:
        raise dg.Failure(f"another release is still going on ({error}): {release_target.keeps_serving()}") from error


def _release(
    context: dg.AssetExecutionContext, config: ReleaseConfig, version: str, source: str,
    lake: Lake, model_registry: ModelRegistry, release_target: ReleaseTarget, promotion_gate: PromotionGate,
) -> Iterator[dg.MaterializeResult]:
    try:
        entry = model_registry.get(version)
    except RegistryError as error:
        raise dg.Failure(f"{error}; nothing was released: {release_target.keeps_serving()}") from error
    current = release_target.current()
    if entry.status == PENDING:
        context.log.warning(
            f"model {version} ({source}) is waiting for approval, so it is not released; {release_target.keeps_serving()}. "
            f"Approve it with `retail-mlops models approve {version} --reason ...` and the model_approval_sensor releases it."
        )
        return
    if entry.status == APPROVED and current is not None and current.version == version:
        context.log.info(f"model {version} already serves (since {current.released_at})")
        release = current
    else:
        _rejudge(context, version, lake, model_registry, release_target, promotion_gate)
        baskets = gold_sample(lake)
        reason = config.reason or f"registered {entry.status} by {entry.history[-1]['actor'] if entry.history else 'the pipeline'}"
        try:
            release = release_target.release(entry, lambda model: answers_real_baskets(model, baskets), reason=reason, actor=f"dagster run {context.run.run_id[:8]}")
        except ReleaseError as error:
            raise dg.Failure(str(error)) from error
        context.log.info(f"released {version} ({source}); it replaces {release.previous_version or 'nothing'}")
    yield dg.MaterializeResult(
        metadata={
            "model_version": version,
            "released_at": release.released_at,
            "previous_version": release.previous_version or "",
            "reason": release.reason,
            "macro_f1": entry.metrics.get("macro_f1"),
            "chosen_from": source,
        }
    )


def _rejudge(
    context: dg.AssetExecutionContext, version: str, lake: Lake, registry: ModelRegistry, target: ReleaseTarget, gate: PromotionGate
) -> None:
    """A version judged against an older champion is judged again against the one serving now;
    if it loses, it is Rejected and not released."""
    try:
        verdict = judge_at_release(registry, lake, gate, version)
    except NoMetricsError as error:
        raise dg.Failure(f"{error}; nothing was released: {target.keeps_serving()}") from error
    if verdict is None:
        return
    if verdict.passed:
        context.log.info(f"model {version} re-judged against the model serving now, {verdict.champion}: {verdict.summary()}")
        return
    registry.decide(version, REJECTED, f"re-judged at release against {verdict.champion}: {verdict.summary()}", "promotion-gate")
    raise dg.Failure(f"model {version} was judged against an older champion; against {verdict.champion}, serving now, it {verdict.summary()}. "
                     f"It is Rejected and not released: {target.keeps_serving()}")


def _version_to_release(context: dg.AssetExecutionContext, config: ReleaseConfig, registry: ModelRegistry) -> tuple[str, str]:
    """The asked-for version, else the one this run (or the run it re-executes) registered, else the latest registration."""
    if config.version:
        return config.version, "asked for in the run config"
    runs = {context.run.run_id, context.run.parent_run_id, context.run.root_run_id} - {None}
    mine = [e for e in registry.list_versions() if e.lineage.get("dagster_run_id") in runs]
    if mine:
        return mine[-1].version, "registered by this run"
    event = context.instance.get_latest_materialization_event(REGISTERED)
    if event is None or event.asset_materialization is None or "model_version" not in event.asset_materialization.metadata:
        raise dg.Failure("no model has been registered yet: materialize registered_model first")
    return str(event.asset_materialization.metadata["model_version"].value), f"the latest registration (run {event.run_id})"
