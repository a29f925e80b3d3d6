from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from retail_assets.alerts.sink import AlertDeliveryError, AlertSink, Measurement
from retail_assets.defs.asset_keys import BASKET_PREDICTIONS, FEATURE_DRIFT, FEATURES, GOLD, LIVE_ACCURACY, PREDICTION_LOG, RELEASE
from retail_assets.defs.metadata import png_markdown
from retail_assets.monitoring.accuracy import LabelledPredictions, label_batch_predictions, label_predictions, latest_weeks_score, weekly_scores
from retail_assets.monitoring.data import MonitoringDataError, batch_predictions, predictions_and_labels, recent_predictions, training_window
from retail_assets.monitoring.drift import drift_by_feature
from retail_assets.monitoring.plots import accuracy_figure, drift_figure, drift_table, rounded
from retail_assets.monitoring.policy import MonitoringPolicy, Verdict
from retail_assets.reporting import markdown_table
from retail_assets.training.report import per_class_markdown
from retail_model.lake import Lake
from retail_model.registry import ModelRegistry

DRIFT_CHECK = "serving_features_match_training"
ACCURACY_CHECK = "live_macro_f1_above_floor"

# Once a day at 07:00 UTC, after the night's traffic; from the UI whenever someone asks.
DAILY = dg.AutomationCondition.cron_tick_passed("0 7 * * *", cron_timezone="UTC") & ~dg.AutomationCondition.in_progress()
# A monitor that stops running is itself an alert (through the freshness_alerts sensor).
STILL_MONITORING = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=2), warn_window=timedelta(hours=30))

prediction_log = dg.AssetSpec(
    PREDICTION_LOG,
    deps=[RELEASE],
    description="Every answer the inference API gave (the predictions Delta table): written by the API, read by monitoring.",
    kinds={"delta", "fastapi"},
    group_name="monitoring",
    metadata={"table": "predictions", "partitioned_by": "date (UTC day of the answer)"},
)


@dg.asset(
    key=FEATURE_DRIFT,
    deps=[PREDICTION_LOG, FEATURES, RELEASE],
    kinds={"polars"},
    group_name="monitoring",
    check_specs=[
        dg.AssetCheckSpec(
            DRIFT_CHECK,
            asset=FEATURE_DRIFT,
            description="No feature's PSI between the serving model's training weeks and the recent prediction log exceeds RETAIL_DRIFT_WARN_PSI (WARN) or RETAIL_DRIFT_FAIL_PSI (ERROR).",
        )
    ],
    automation_condition=DAILY,
    freshness_policy=STILL_MONITORING,
)
def feature_drift(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    model_registry: dg.ResourceParam[ModelRegistry],
    monitoring_policy: dg.ResourceParam[MonitoringPolicy],
    alert_sink: dg.ResourceParam[AlertSink],
) -> dg.MaterializeResult:
    """How far the baskets the API scored lately have moved from what the serving model was trained on: PSI per feature."""
    serving = model_registry.serving_entry()
    if serving is None:
        return _not_judged(DRIFT_CHECK, "no model serves yet: there is no training window to compare the prediction log with")
    try:
        training = training_window(lake, serving.version)
    except MonitoringDataError as error:
        raise dg.Failure(str(error)) from error
    feature_version = training.feature_version or serving.feature_version
    today = datetime.now(UTC).date()
    recent = recent_predictions(lake, today, monitoring_policy.drift_window_days, feature_version)
    drifts = drift_by_feature(training.rows, recent.rows) if recent.predictions else []
    verdict = monitoring_policy.judge_drift(drifts, recent.predictions)
    context.log.info(f"model {serving.version}: {verdict.summary}")
    published = _publish(context, alert_sink, [Measurement("FeatureDriftPSI", d.psi, {"Feature": d.feature}) for d in drifts] if verdict.judged else [])
    max_psi = max((d.psi for d in drifts), default=0.0)
    metadata = {
        "model_version": serving.version,
        "training_weeks": f"{training.weeks[0]}..{training.weeks[-1]} ({len(training.weeks)} weeks)",
        "training_baskets": training.baskets,
        "read_features_version": training.features_version,
        "window": f"{recent.first_day}..{today}",
        "predictions": recent.predictions,
        "predictions_other_feature_version": recent.other_feature_versions,
        "max_psi": round(max_psi, 4),  # numeric: the UI plots it across materializations
        "features_over_warn": sum(d.psi > monitoring_policy.drift_warn_psi for d in drifts),
        "verdict": verdict.summary,
        "published": published,
    }
    if drifts:
        metadata["psi_by_feature"] = dg.MetadataValue.md(markdown_table(drift_table(drifts)))
        metadata["psi_plot"] = png_markdown(drift_figure(drifts, monitoring_policy.drift_warn_psi, monitoring_policy.drift_fail_psi), "PSI by feature")
    check_metadata = {"model_version": serving.version, "max_psi": round(max_psi, 4), "predictions": recent.predictions, "judged": verdict.judged}
    return dg.MaterializeResult(metadata=metadata, check_results=[_check_result(DRIFT_CHECK, verdict, check_metadata)])


@dg.asset(
    key=LIVE_ACCURACY,
    deps=[PREDICTION_LOG, GOLD, RELEASE, dg.AssetDep(BASKET_PREDICTIONS, partition_mapping=dg.AllPartitionMapping())],
    kinds={"polars", "scikit-learn"},
    group_name="monitoring",
    check_specs=[
        dg.AssetCheckSpec(
            ACCURACY_CHECK,
            asset=LIVE_ACCURACY,
            description="The serving model's macro-F1 on its latest labelled weeks (RETAIL_LIVE_WINDOW_WEEKS) stays at or above RETAIL_LIVE_MIN_MACRO_F1.",
        )
    ],
    automation_condition=DAILY,
    freshness_policy=STILL_MONITORING,
)
def live_accuracy(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    model_registry: dg.ResourceParam[ModelRegistry],
    monitoring_policy: dg.ResourceParam[MonitoringPolicy],
    alert_sink: dg.ResourceParam[AlertSink],
) -> dg.MaterializeResult:
    """The API's answers (else the batch scores of gold) against the labels later weeks bring: precision and recall per class, by week."""
    predictions, gold = predictions_and_labels(lake)
    batch = batch_predictions(lake)
    serving = model_registry.serving_entry()
    if (predictions is None and batch is None) or gold is None or serving is None:
        missing = "no prediction has been logged or scored" if gold is not None and serving is not None else "gold has not been built" if gold is None else "no model serves"
        return _not_judged(ACCURACY_CHECK, f"{missing} yet: nothing to score")
    labelled = label_predictions(predictions, gold) if predictions is not None else LabelledPredictions(label_batch_predictions(batch.clear()), 0, 0)
    batch_frame = label_batch_predictions(batch) if batch is not None else labelled.frame.clear()
    # The API's answers when it has labelled ones from the serving model; else the batch scores of the same weeks.
    served = labelled.frame.filter(pl.col("model_version") == serving.version).height > 0
    source, frame = ("api", labelled.frame) if served or batch_frame.is_empty() else ("batch", batch_frame)
    weekly = weekly_scores(frame)
    window = latest_weeks_score(frame, serving.version, monitoring_policy.live_window_weeks)
    scores = window.scores
    verdict = monitoring_policy.judge_accuracy(scores["macro_f1"], scores["n"], serving.version)
    context.log.info(verdict.summary)
    measurements = [Measurement("LiveMacroF1", scores["macro_f1"])] if verdict.judged else []
    published = _publish(context, alert_sink, measurements)
    metadata = {
        "model_version": serving.version,
        "source": "the API's prediction log" if source == "api" else "basket_predictions (batch scoring of gold)",
        "batch_scored_baskets": batch_frame.height,
        "live_macro_f1": scores["macro_f1"],
        "live_accuracy": scores["accuracy"],
        "test_macro_f1": serving.metrics.get("macro_f1"),  # what the model scored on its held-out weeks
        "labelled_baskets": scores["n"],
        "weeks_scored": ", ".join(str(w) for w in window.weeks) or "-",
        "all_labelled_predictions": labelled.frame.height,
        "awaiting_labels": labelled.awaiting_labels,
        "unclassified_excluded": labelled.unclassified,
        "verdict": verdict.summary,
        "published": published,
        "per_class": dg.MetadataValue.md(per_class_markdown(scores) if scores["per_class"] else "(no labelled predictions)"),
        "by_week": dg.MetadataValue.md(markdown_table(rounded(weekly)) if weekly.height else "(no labelled predictions yet)"),
    }
    if window.weeks:
        metadata["by_week_plot"] = png_markdown(accuracy_figure(weekly, serving.version, monitoring_policy.live_min_macro_f1), "live scores by week")
    check_metadata = {"model_version": serving.version, "live_macro_f1": scores["macro_f1"], "labelled_baskets": scores["n"], "judged": verdict.judged}
    return dg.MaterializeResult(metadata=metadata, check_results=[_check_result(ACCURACY_CHECK, verdict, check_metadata)])


def _check_result(name: str, verdict: Verdict, metadata: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity(verdict.severity),
        description=verdict.summary,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )


def _not_judged(check: str, reason: str) -> dg.MaterializeResult:
    verdict = Verdict(True, "ERROR", False, f"not judged: {reason}")
    return dg.MaterializeResult(metadata={"verdict": verdict.summary}, check_results=[_check_result(check, verdict, {"judged": False})])


def _publish(context: dg.AssetExecutionContext, sink: AlertSink, measurements: list[Measurement]) -> str:
    """Best effort: the values feed dashboards; the check above is what raises the alert."""
    if not measurements:
        return "nothing to publish"
    try:
        sink.record(measurements)
    except AlertDeliveryError as error:
        context.log.warning(f"the measurements were not published ({error}); the check result still reaches the alert sensors")
        return f"not published: {error}"
    return f"{len(measurements)} value(s) to {sink.destination}"
