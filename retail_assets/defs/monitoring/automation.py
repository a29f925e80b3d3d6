import dagster as dg

from retail_assets.defs.asset_keys import FEATURE_DRIFT, LIVE_ACCURACY

# Runs from the start (Dagster's default automation sensor starts stopped), so drift and live
# accuracy are measured every morning without anyone switching anything on.
monitoring_automation = dg.AutomationConditionSensorDefinition(
    "monitoring_automation",
    target=[FEATURE_DRIFT, LIVE_ACCURACY],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates the monitoring assets' automation condition: feature drift and live accuracy once a day at 07:00 UTC.",
)
