"""The promotion gate once more at release time, against the model serving at that moment.

A model is judged when it is registered, against the model serving then. Two trainings that
finish close together are both judged against the same old champion; once the first is
released, the second must beat *it*, or it could replace a better model by more than the
margin. So a release re-judges a version whose verdict names another champion than the one
serving now (api_release does this under the release lock, so no other release lands between
the verdict and the switch). No Dagster import.
"""

from __future__ import annotations

from retail_assets.training.champion import score_serving_model
from retail_assets.training.gate import GateResult, PromotionGate
from retail_model.artifact import GATE_FILE_NAME, METRICS_FILE_NAME, model_key
from retail_model.lake import Lake
from retail_model.registry import ModelRegistry


class NoMetricsError(Exception):
    """The version has no metrics.json to judge it by."""


def judge_at_release(registry: ModelRegistry, lake: Lake, gate: PromotionGate, version: str) -> GateResult | None:
    """None when `version` was judged against the model serving now (or serves already); else the
    gate's verdict against the serving model, which replaces models/<version>/gate.json."""
    serving = registry.serving_entry()
    if serving is None or serving.version == version:
        return None
    verdict = lake.read_json(model_key(version, GATE_FILE_NAME)) or {}
    if verdict.get("champion") == serving.version:
        return None
    metrics = lake.read_json(model_key(version, METRICS_FILE_NAME))
    if metrics is None:
        raise NoMetricsError(f"model {version} has no metrics in {lake.uri_of(model_key(version, METRICS_FILE_NAME))}: it cannot be judged against {serving.version}")
    result = gate.evaluate(metrics, score_serving_model(registry, lake, version, str(metrics.get("feature_version", ""))))
    earlier = verdict.get("summary", "no verdict recorded")
    lake.write_json(model_key(version, GATE_FILE_NAME), result.to_dict() | {"rejudged_at_release": True, "registered_with": earlier})
    return result
