"""A drift or accuracy breach asks for a retrain, when RETAIL_RETRAIN_ON_DRIFT=true.

Only an ERROR-severity failure of the latest evaluation counts, once (the run key names the
breaching evaluation), and not when a newer model already serves or a retrain was asked for after
the breach. The model chain then runs as from the UI: train, register through the promotion
gate, release only if Approved, so a worse model never replaces the serving one.
"""

import dagster as dg

from retail_assets.defs.asset_keys import FEATURE_DRIFT, LIVE_ACCURACY, MODEL, REGISTERED, RELEASE
from retail_assets.defs.monitoring.assets import ACCURACY_CHECK, DRIFT_CHECK
from retail_assets.settings import get_environment
from retail_model.registry import ModelRegistry

BREACH_CHECKS = (dg.AssetCheckKey(FEATURE_DRIFT, DRIFT_CHECK), dg.AssetCheckKey(LIVE_ACCURACY, ACCURACY_CHECK))
TRIGGER_TAG = "retail/trigger"
TRIGGER = "retrain_on_breach"


def retrain_on_breach(context: dg.SensorEvaluationContext, model_registry: dg.ResourceParam[ModelRegistry]):
    """Retrains, registers and releases the model once after feature drift or live accuracy fails with severity ERROR."""
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(list(BREACH_CHECKS))
    serving = model_registry.serving_entry()
    asked = context.instance.get_run_records(dg.RunsFilter(tags={TRIGGER_TAG: TRIGGER}), limit=1)
    last_asked = asked[0].create_timestamp.timestamp() if asked else 0.0
    reasons = []
    for key in BREACH_CHECKS:
        record = latest.get(key)
        if record is None or record.status.value != "FAILED" or record.evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        judged = record.evaluation.metadata.get("model_version")
        if serving is not None and judged is not None and judged.value != serving.version:
            reasons.append(f"{key.name} failed for model {judged.value}, but {serving.version} serves since")
            continue
        if record.event is not None and last_asked >= record.event.timestamp:
            reasons.append(f"{key.name} failed in run {record.run_id[:8]}; a retrain was already asked for after it")
            continue
        context.log.info(f"{key.name} failed (run {record.run_id[:8]}): {record.evaluation.description}")
        return dg.RunRequest(
            run_key=f"retrain-after-{key.name}-{record.run_id}",
            tags={TRIGGER_TAG: TRIGGER, "retail/breach": f"{key.asset_key.to_user_string()}.{key.name}", "retail/breach_run": record.run_id},
        )
    return dg.SkipReason("; ".join(reasons) or "no drift or accuracy breach (ERROR) to act on")


@dg.definitions
def retraining_on_breach() -> dg.Definitions:
    """Stopped unless RETAIL_RETRAIN_ON_DRIFT=true (it can still be started by hand in the UI)."""
    status = dg.DefaultSensorStatus.RUNNING if get_environment().retrain_on_drift else dg.DefaultSensorStatus.STOPPED
    sensor = dg.sensor(name="retrain_on_breach", target=[MODEL, REGISTERED, RELEASE], minimum_interval_seconds=60, default_status=status,
        description="Retrains, registers and releases the model once after feature drift or live accuracy fails with severity ERROR (RETAIL_RETRAIN_ON_DRIFT).",
    )
    return dg.Definitions(sensors=[sensor(retrain_on_breach)])
