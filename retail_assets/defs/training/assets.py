import json
from datetime import UTC, datetime

import dagster as dg

from retail_assets.defs.features.assets import basket_features
from retail_assets.lake import scan_table
from retail_assets.metadata import png_markdown
from retail_assets.model_report import confusion_figure, model_card, per_class_markdown
from retail_assets.resources import LakeResource, ModelRegistryResource, PromotionGate, TrainingLauncher
from retail_assets.training_data import NotEnoughWeeksError, time_split, write_channels
from retail_features.registry import APPROVED, PENDING

MODEL = dg.AssetKey("price_sensitivity_model")
REGISTERED = dg.AssetKey("registered_model")


class TrainingConfig(dg.Config):
    test_fraction: float = 0.2
    hyperparameters: dict[str, str] = {}


@dg.asset(deps=[basket_features], kinds={"python", "scikit-learn"}, group_name="training")
def price_sensitivity_model(
    context: dg.AssetExecutionContext, config: TrainingConfig, lake: LakeResource, trainer: TrainingLauncher
) -> dg.MaterializeResult:
    """A trained basket price-sensitivity model, scored on the latest weeks it never saw."""
    paths = lake.paths
    features = scan_table(paths.features)
    if features is None:
        raise dg.Failure("basket_features has no data yet: materialize it first")
    table = features.collect()
    try:
        split = time_split(table["shop_week"].unique().to_list(), config.test_fraction)
    except NotEnoughWeeksError as error:
        raise dg.Failure(str(error)) from error
    version = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{context.run.run_id[:8]}"
    job_dir = paths.training_job(version)
    rows = write_channels(table, split, job_dir)
    context.log.info(f"model {version}: {split.describe()}; channel rows {rows}")
    run = trainer.train(job_dir, paths.model(version), dict(config.hyperparameters))
    metrics = json.loads((run.model_dir / "metrics.json").read_text())
    (run.model_dir / "model_card.md").write_text(model_card(version, metrics))
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "macro_f1": metrics["macro_f1"],
            "accuracy": metrics["accuracy"],
            "n_train": metrics["n_train"],
            "n_test": metrics["n_test"],
            "split": split.describe(),
            "winner": str(metrics.get("winner", "")),
            "per_class": dg.MetadataValue.md(per_class_markdown(metrics)),
            "confusion_matrix": png_markdown(confusion_figure(metrics), "confusion matrix"),
            "model_dir": dg.MetadataValue.path(str(run.model_dir)),
        }
    )


@dg.asset(deps=[price_sensitivity_model], kinds={"python"}, group_name="training")
def registered_model(
    context: dg.AssetExecutionContext, lake: LakeResource, model_registry: ModelRegistryResource, promotion_gate: PromotionGate
) -> dg.MaterializeResult:
    """The latest trained model as a registry entry; Approved when it passed the promotion gate."""
    version = latest_metadata(context.instance, MODEL, "model_version")
    metrics = read_metrics(lake, version)
    status = APPROVED if promotion_gate.auto_approve else PENDING
    entry = model_registry.registry.register(
        version=version,
        model_dir=f"models/{version}",
        feature_version=str(metrics.get("feature_version", "")),
        metrics={k: metrics[k] for k in ("accuracy", "macro_f1", "n_train", "n_test")},
        status=status,
        description=f"passed the promotion gate (macro-F1 >= {promotion_gate.min_macro_f1})",
    )
    context.log.info(f"registered {version} as {entry.status}")
    return dg.MaterializeResult(
        metadata={"model_version": version, "status": entry.status, "macro_f1": metrics["macro_f1"], "registry_group": model_registry.group}
    )


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, name: str) -> str:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{key.to_user_string()} has not been materialized yet")
    value = event.asset_materialization.metadata.get(name)
    if value is None:
        raise dg.Failure(f"the latest {key.to_user_string()} materialization has no {name!r} metadata")
    return str(value.value)


def read_metrics(lake: LakeResource, version: str) -> dict:
    return json.loads((lake.paths.model(version) / "metrics.json").read_text())

