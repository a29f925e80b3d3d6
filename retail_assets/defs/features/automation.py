import dagster as dg

from retail_assets.defs.asset_keys import FEATURES

# Dagster's own default_automation_condition_sensor starts stopped; this one runs from the start,
# so a gold rebuild (sensor, schedule or UI) refreshes the feature table without anyone asking.
features_follow_gold = dg.AutomationConditionSensorDefinition(
    "features_follow_gold",
    target=[FEATURES],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates basket_features' automation condition: rebuilt once after gold changes.",
)
