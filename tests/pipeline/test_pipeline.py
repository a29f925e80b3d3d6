"""The whole graph, materialized for real on generated data in a temporary lake."""

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from retail_model.registry import APPROVED


def latest_metadata(instance, name, field):
    event = instance.get_latest_materialization_event(dg.AssetKey(name))
    return event.asset_materialization.metadata[field].value


def test_every_asset_is_materialized_with_metadata(pipeline_run):
    instance = pipeline_run.instance
    for name in ("basket_features", "price_sensitivity_model", "registered_model", "api_release"):
        assert instance.get_latest_materialization_event(dg.AssetKey(name)) is not None, name
    weeks = instance.get_materialized_partitions(dg.AssetKey("raw_transactions"))
    assert len(weeks) == 5
    assert latest_metadata(instance, "raw_transactions", "dagster/row_count") > 0
    assert "confusion matrix" in latest_metadata(instance, "price_sensitivity_model", "confusion_matrix")


def test_lake_layout_and_row_conservation(pipeline_run, sample_dir):
    lake = pipeline_run.store
    landed_rows = sum(len(p.read_text().splitlines()) - 1 for p in sample_dir.glob("transactions_*.csv"))
    raw, quarantined = lake.count_rows("raw"), lake.count_rows("quarantine")
    assert raw + quarantined == landed_rows
    assert lake.count_rows("silver") == raw
    landed = [p.name for p in (pipeline_run.lake / "landing").glob("*.csv")]
    assert sorted(landed) == sorted(p.name for p in sample_dir.glob("*.csv"))
    # Every table is a Delta table, partitioned as the README says.
    for table, partitions in {"raw": ["shop_week"], "quarantine": ["shop_week"], "silver": ["store_region", "basket_type"],
                              "gold": ["store_region", "basket_type"], "features": []}.items():
        assert DeltaTable(str(pipeline_run.lake / table)).metadata().partition_columns == partitions, table
    gold = lake.scan("gold").collect()
    assert gold["basket_id"].is_unique().all()
    assert gold["n_lines"].sum() == raw
    # Regions are discovered from the data and become partitions.
    regions = set(pipeline_run.instance.get_dynamic_partitions("store_regions"))
    assert regions == set(gold["store_region"].unique())


def test_unclassified_baskets_stay_in_the_lake_but_out_of_the_model(pipeline_run):
    gold = pipeline_run.store.scan("gold").collect()
    n_unclassified = gold.filter(pl.col("basket_price_sensitivity") == "XX").height
    assert n_unclassified > 0
    features = pipeline_run.store.scan("features").collect()
    assert features.height == gold.height
    version = pipeline_run.summary.model_version
    metrics = pipeline_run.metrics(version)
    excluded = metrics["n_excluded_unclassified"]
    assert excluded["train"] + excluded["test"] == n_unclassified
    assert metrics["n_train"] + metrics["n_test"] == gold.height - n_unclassified


def test_model_is_scored_on_later_weeks_it_never_saw(pipeline_run):
    version = pipeline_run.summary.model_version
    metrics = pipeline_run.metrics(version)
    for field in ("accuracy", "macro_f1", "per_class", "n_train", "n_test", "split", "candidates"):
        assert field in metrics
    assert max(metrics["split"]["train_weeks"]) < min(metrics["split"]["test_weeks"])
    assert set(metrics["per_class"]) == {"High", "Medium", "Low"}
    assert 0.0 < metrics["macro_f1"] <= 1.0
    assert (pipeline_run.lake / "models" / version / "model_card.md").read_text().startswith(f"# Basket price-sensitivity model {version}")


def test_registered_model_is_approved_and_released(pipeline_run):
    registry = pipeline_run.registry
    version = latest_metadata(pipeline_run.instance, "registered_model", "model_version")
    assert version == pipeline_run.summary.model_version
    assert registry.get(version).status == APPROVED
    assert registry.released().version == version


def test_every_check_passed(pipeline_run):
    instance = pipeline_run.instance
    storage = instance.event_log_storage
    from retail_assets.definitions import defs

    for check_key in defs().resolve_asset_graph().asset_check_keys:
        history = storage.get_asset_check_execution_history(check_key, limit=1)
        assert history, f"{check_key.name} never ran"
        evaluation = history[0].event.dagster_event.event_specific_data
        assert isinstance(evaluation, dg.AssetCheckEvaluation), f"{check_key.name} was planned but never evaluated: {evaluation}"
        assert evaluation.passed, f"{check_key.name} failed: {evaluation.metadata}"


def test_a_failed_quality_gate_keeps_the_current_model_serving(pipeline_run, monkeypatch):
    from rich.console import Console
    from rich.progress import Progress

    from retail_assets.pipeline import PipelineError, run_pipeline

    registry = pipeline_run.registry
    serving_before = registry.released().version
    monkeypatch.setenv("RETAIL_MIN_MACRO_F1", "0.999")
    with pytest.raises(PipelineError, match="model_passed_promotion_gate failed"):
        run_pipeline(None, pipeline_run.instance, Progress(console=Console(quiet=True)))
    assert registry.released().version == serving_before
    assert registry.latest_approved().version == serving_before
    rejected = registry.list_versions()[-1]  # registered, with the reason, and never released
    assert rejected.status == "Rejected" and "macro_f1" in rejected.history[0]["reason"] and "< 0.999" in rejected.history[0]["reason"]


def test_the_summary_says_what_serves_when_the_new_model_waits_for_approval():
    from retail_assets.pipeline import PipelineSummary

    metrics = {"macro_f1": 0.91, "accuracy": 0.92, "n_train": 3000, "n_test": 800}
    waiting = PipelineSummary("lake", "rejected", model_version="v2", model_status="PendingManualApproval", serving_version="v1", metrics=metrics)
    text = " ".join(waiting.lines())
    assert "model v2 is PendingManualApproval, not released" in text and "serving: v1" in text
    assert "retail-mlops models approve v2 --reason" in text
    released = PipelineSummary("lake", "rejected", model_version="v2", model_status="Approved", serving_version="v2", metrics=metrics)
    assert "model v2 released: test macro-F1 0.910" in " ".join(released.lines())
