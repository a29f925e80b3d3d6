import dagster as dg

from retail_assets.defs.asset_keys import RELEASE
from retail_assets.release.approvals import next_release
from retail_model.registry import ModelRegistry


@dg.sensor(
    name="model_approval_sensor",
    target=[RELEASE],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def model_approval_sensor(context: dg.SensorEvaluationContext, model_registry: dg.ResourceParam[ModelRegistry]):
    """Releases a version a person approved (`retail-mlops models approve`, or in SageMaker), and rolls back when the serving version is rejected."""
    request = next_release(model_registry)
    if request is None:
        return dg.SkipReason("nothing to release: no newer version was approved, and the serving version is still Approved")
    context.log.info(f"requesting the release of {request.version}: {request.reason}")
    return dg.RunRequest(
        run_key=request.run_key,
        run_config={"ops": {"api_release": {"config": {"version": request.version, "reason": request.reason}}}},
        tags={"retail/model_version": request.version, "retail/release_reason": request.reason[:200]},
    )
