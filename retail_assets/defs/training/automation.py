import dagster as dg

from retail_assets.defs.asset_keys import MODEL, REGISTERED, RELEASE
from retail_assets.settings import get_environment


@dg.definitions
def retraining() -> dg.Definitions:
    """Retraining follows a feature update unless RETAIL_AUTO_RETRAIN=false (then: from the UI or CLI)."""
    settings = get_environment()
    status = dg.DefaultSensorStatus.RUNNING if settings.auto_retrain else dg.DefaultSensorStatus.STOPPED
    sensor = dg.AutomationConditionSensorDefinition(
        "retraining_sensor",
        target=[MODEL, REGISTERED, RELEASE],
        default_status=status,
        description="Evaluates the model chain's automation conditions: a new feature table trains, registers and releases a model.",
    )
    return dg.Definitions(sensors=[sensor])
