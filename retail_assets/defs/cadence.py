"""How often the sensors look: each its own interval, or RETAIL_SENSOR_INTERVAL_SECONDS for all.

Each sensor declares the interval it needs in production (30 s, or 60 s where a look is heavier
or nothing is urgent). A demo, a staging deployment or a test that wants the chain to move
faster sets one interval for every sensor; `retail_assets/definitions.py` applies it when the
definitions load, so nothing reads the environment at import and each hop keeps its own default.
"""

import dagster as dg


def with_sensor_interval(definitions: dg.Definitions, seconds: int | None) -> dg.Definitions:
    """The same definitions, every sensor looking every `seconds` (None: each keeps its own)."""
    if seconds is None:
        return definitions
    return dg.Definitions(
        assets=definitions.assets,
        asset_checks=definitions.asset_checks,
        schedules=definitions.schedules,
        sensors=[_every(sensor, seconds) for sensor in definitions.sensors or []],
        jobs=definitions.jobs,
        resources=definitions.resources,
        executor=definitions.executor,
        loggers=definitions.loggers,
        metadata=definitions.metadata,
        component_tree=definitions.component_tree,
    )


def _every(sensor: dg.SensorDefinition, seconds: int) -> dg.SensorDefinition:
    """The sensor as declared, with another interval: same name, target, status, resources, evaluation."""
    if isinstance(sensor, dg.AutomationConditionSensorDefinition):
        return dg.AutomationConditionSensorDefinition(
            sensor.name, target=sensor.asset_selection, default_status=sensor.default_status, minimum_interval_seconds=seconds,
            description=sensor.description, tags=sensor.tags, metadata=sensor.metadata,
        )
    # @dg.sensor keeps the decorated function as __wrapped__ (functools.update_wrapper): its
    # ResourceParam arguments give the same required resources.
    return dg.sensor(
        name=sensor.name, minimum_interval_seconds=seconds, description=sensor.description, default_status=sensor.default_status,
        jobs=sensor.jobs if sensor.has_jobs else None, tags=sensor.tags, metadata=sensor.metadata,
    )(sensor.__wrapped__)
