from datetime import UTC, datetime, timedelta

import dagster as dg

from retail_assets.defs.asset_keys import FEATURES, MODEL, REGISTERED
from retail_assets.defs.metadata import latest_materialization_value, png_markdown
from retail_assets.lake import tables
from retail_assets.training.data import NotEnoughWeeksError, time_split, write_channels
from retail_assets.training.gate import PromotionGate
from retail_assets.training.launcher import TrainingFailedError, TrainingLauncher
from retail_assets.training.report import confusion_figure, model_card, per_class_markdown
from retail_model.lake import Lake
from retail_model.registry import APPROVED, PENDING, ModelRegistry, model_directory_uri


class TrainingConfig(dg.Config):
    test_fraction: float = 0.2
    hyperparameters: dict[str, str] = {}


@dg.asset(
    key=MODEL,
    deps=[FEATURES],
    kinds={"python", "scikit-learn"},
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
    """A trained basket price-sensitivity model, scored on the latest weeks it never saw."""
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
        outcome = trainer.train(version, dict(config.hyperparameters))
    except TrainingFailedError as error:
        raise dg.Failure(str(error)) from error
    metrics = outcome.metrics
    lake.write_bytes(f"models/{version}/model_card.md", model_card(version, metrics).encode())
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "macro_f1": metrics["macro_f1"],
            "accuracy": metrics["accuracy"],
            "n_train": metrics["n_train"],
            "n_test": metrics["n_test"],
            "split": split.describe(),
            "winner": str(metrics.get("winner", "")),
            "data_versions": dg.MetadataValue.json(metrics.get("data_versions", {})),
            "per_class": dg.MetadataValue.md(per_class_markdown(metrics)),
            "confusion_matrix": png_markdown(confusion_figure(metrics), "confusion matrix"),
            "model_uri": dg.MetadataValue.path(outcome.model_uri),
            "training_job": outcome.job_name,
            "training_log": dg.MetadataValue.path(outcome.log_uri),
        }
    )


@dg.asset(
    key=REGISTERED,
    deps=[MODEL],
    kinds={"python"},
    group_name="training",
    automation_condition=dg.AutomationCondition.eager(),
)
def registered_model(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    model_registry: dg.ResourceParam[ModelRegistry],
    promotion_gate: dg.ResourceParam[PromotionGate],
) -> dg.MaterializeResult:
    """The latest trained model as a registry entry; Approved when it passed the promotion gate."""
    version = latest_materialization_value(context.instance, MODEL, "model_version")
    metrics = read_metrics(lake, version)
    status = APPROVED if promotion_gate.auto_approve else PENDING
    entry = model_registry.register(
        version=version,
        model_uri=model_directory_uri(lake, version),
        feature_version=str(metrics.get("feature_version", "")),
        metrics={k: metrics[k] for k in ("accuracy", "macro_f1", "n_train", "n_test")},
        status=status,
        description=f"passed the promotion gate (macro-F1 >= {promotion_gate.min_macro_f1})",
    )
    context.log.info(f"registered {version} as {entry.status}")
    return dg.MaterializeResult(
        metadata={"model_version": version, "status": entry.status, "macro_f1": metrics["macro_f1"], "registry_group": model_registry.group}
    )


def read_metrics(lake: Lake, version: str) -> dict:
    metrics = lake.read_json(f"models/{version}/metrics.json")
    if metrics is None:
        raise dg.Failure(f"model {version} has no metrics.json in {lake.uri_of(f'models/{version}')}")
    return metrics
