from datetime import UTC, datetime, timedelta

import dagster as dg

from retail_assets.defs.asset_keys import FEATURES, MODEL, REGISTERED
from retail_assets.defs.metadata import png_markdown
from retail_assets.defs.training.provenance import upstream_version
from retail_assets.lake import tables
from retail_assets.training.champion import score_serving_model
from retail_assets.training.data import NotEnoughWeeksError, time_split, write_channels
from retail_assets.training.gate import PromotionGate
from retail_assets.training.launcher import TrainingFailedError, TrainingLauncher
from retail_assets.training.provenance import code_version
from retail_assets.training.report import (
    by_customer_markdown,
    candidates_markdown,
    confusion_figure,
    gate_markdown,
    model_card,
    per_class_markdown,
    top_features_markdown,
)
from retail_model.artifact import GATE_FILE_NAME, METRICS_FILE_NAME, MODEL_CARD_FILE_NAME, model_key
from retail_model.lake import Lake
from retail_model.registry import ModelRegistry, RegistryError, VersionExistsError, model_directory_uri


class TrainingConfig(dg.Config):
    test_fraction: float = 0.2
    hyperparameters: dict[str, str] = {}


@dg.asset(
    key=MODEL,
    deps=[FEATURES],
    kinds={"python", "scikit-learn", "sagemaker"},
    group_name="training",
    automation_condition=dg.AutomationCondition.eager(),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7)),
)
def price_sensitivity_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    lake: dg.ResourceParam[Lake],
    trainer: dg.ResourceParam[TrainingLauncher],
) -> dg.MaterializeResult:
    """A trained basket price-sensitivity model: five candidates compared, scored on the latest weeks it never saw."""
    try:
        features = tables.read_upstream(lake, tables.FEATURES)
    except tables.MissingUpstreamError as error:
        raise dg.Failure(str(error)) from error
    table = features.frame.collect()
    try:
        split = time_split(table["shop_week"].unique().to_list(), config.test_fraction)
    except NotEnoughWeeksError as error:
        raise dg.Failure(str(error)) from error
    version = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{context.run.run_id[:8]}"
    data_versions = {tables.FEATURES: features.version, **lake.lineage(tables.FEATURES, features.version)}
    rows = write_channels(lake, table, split, version, data_versions)
    context.log.info(f"model {version}: {split.describe()}; channel rows {rows}; table versions {data_versions}")
    try:
        outcome = trainer.train(version, dict(config.hyperparameters), log=context.log.info)
    except TrainingFailedError as error:
        raise dg.Failure(str(error)) from error
    metrics = outcome.metrics
    lake.write_bytes(model_key(version, MODEL_CARD_FILE_NAME), model_card(version, metrics).encode())
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "macro_f1": metrics["macro_f1"],
            "accuracy": metrics["accuracy"],
            "n_train": metrics["n_train"],
            "n_test": metrics["n_test"],
            "split": split.describe(),
            "winner": f"{metrics['winner']} {metrics.get('winner_params', {})}",
            "candidates": dg.MetadataValue.md(candidates_markdown(metrics)),
            "per_class": dg.MetadataValue.md(per_class_markdown(metrics)),
            "anonymous_vs_identified": dg.MetadataValue.md(by_customer_markdown(metrics)),
            "confusion_matrix": png_markdown(confusion_figure(metrics), "confusion matrix"),
            "top_features": dg.MetadataValue.md(top_features_markdown(metrics)),
            "search_trials": metrics.get("search", {}).get("n_trials", 0),
            "training_seconds": metrics.get("training_seconds", 0.0),
            "data_versions": dg.MetadataValue.json(metrics.get("data_versions", {})),
            "model_uri": dg.MetadataValue.path(outcome.model_uri),
            "training_job": outcome.job_name,
            "training_log": dg.MetadataValue.path(outcome.log_uri),
        }
    )


@dg.asset(
    key=REGISTERED,
    deps=[MODEL],
    kinds={"python", "sagemaker"},
    group_name="training",
    automation_condition=dg.AutomationCondition.eager(),
)
def registered_model(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    model_registry: dg.ResourceParam[ModelRegistry],
    promotion_gate: dg.ResourceParam[PromotionGate],
) -> dg.MaterializeResult:
    """The model this run trained, judged by the promotion gate and registered: Approved, PendingManualApproval, or Rejected with why."""
    upstream = upstream_version(context, MODEL)
    version = upstream.version
    context.log.info(f"judging model {version} (from {upstream.source})")
    metrics = read_metrics(lake, version)
    try:
        entry = model_registry.get(version)
        context.log.info(f"model {version} is already registered as {entry.status}: a registered version is never re-judged or overwritten")
    except RegistryError:
        entry = None
    if entry is None:
        champion = score_serving_model(model_registry, lake, version, str(metrics.get("feature_version", "")))
        result = promotion_gate.evaluate(metrics, champion)
        lake.write_json(model_key(version, GATE_FILE_NAME), result.to_dict())
        lake.write_bytes(model_key(version, MODEL_CARD_FILE_NAME), model_card(version, metrics, result.to_dict()).encode())
        lineage = {
            "data_versions": metrics.get("data_versions", {}),
            "feature_version": metrics.get("feature_version", ""),
            "code_version": code_version(),
            "training_job": str(upstream.metadata.get("training_job", "")),
            "dagster_run_id": context.run.run_id,
        }
        try:
            entry = model_registry.register(
                version=version,
                model_uri=model_directory_uri(lake, version),
                feature_version=str(metrics.get("feature_version", "")),
                metrics={k: metrics[k] for k in ("accuracy", "macro_f1", "n_train", "n_test")},
                status=promotion_gate.status_for(result),
                description=result.summary(),
                reason=result.summary(),
                actor="promotion-gate",
                lineage=lineage,
            )
        except VersionExistsError:  # registered by a concurrent run between our look and our write
            entry = model_registry.get(version)
    gate = lake.read_json(model_key(version, GATE_FILE_NAME)) or {}
    context.log.info(f"model {version} is {entry.status}: {gate.get('summary', entry.description)}")
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "status": entry.status,
            "gate": dg.MetadataValue.md(gate_markdown(gate) if gate else entry.description),
            "gate_passed": bool(gate.get("passed", False)),
            "macro_f1": metrics["macro_f1"],
            "registry_group": model_registry.group,
            "judged_from": upstream.source,
        }
    )


def read_metrics(lake: Lake, version: str) -> dict:
    metrics = lake.read_json(model_key(version, METRICS_FILE_NAME))
    if metrics is None:
        raise dg.Failure(f"model {version} has no metrics.json in {lake.uri_of(model_key(version))}")
    return metrics
