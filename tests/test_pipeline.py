"""The whole graph, materialized for real on generated data in a temporary lake."""

import json

import dagster as dg
import polars as pl
import pytest

from retail_assets.lake import LakePaths, count_rows, parquet_files, scan_table
from retail_features.registry import APPROVED, LocalModelRegistry


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
    paths = LakePaths(pipeline_run.lake)
    landed_rows = sum(len(p.read_text().splitlines()) - 1 for p in sample_dir.glob("transactions_*.csv"))
    raw, quarantined = count_rows(paths.raw()), count_rows(paths.quarantine())
    assert raw + quarantined == landed_rows
    assert count_rows(paths.silver()) == raw
    assert sorted(p.name for p in paths.landing.glob("*.csv")) == sorted(p.name for p in sample_dir.glob("*.csv"))
    assert all(p.parent.parent.name.startswith("store_region=") for p in parquet_files(paths.silver()))
    gold = scan_table(paths.gold()).collect()
    assert gold["basket_id"].is_unique().all()
    assert gold["n_lines"].sum() == raw
    # Regions are discovered from the data and become partitions.
    regions = set(pipeline_run.instance.get_dynamic_partitions("store_regions"))
    assert regions == set(gold["store_region"].unique())


def test_unclassified_baskets_stay_in_the_lake_but_out_of_the_model(pipeline_run):
    paths = LakePaths(pipeline_run.lake)
    gold = scan_table(paths.gold()).collect()
    n_unclassified = gold.filter(pl.col("basket_price_sensitivity") == "XX").height
    assert n_unclassified > 0
    features = scan_table(paths.features).collect()
    assert features.height == gold.height
    version = pipeline_run.summary.model_version
    metrics = json.loads((paths.model(version) / "metrics.json").read_text())
    excluded = metrics["n_excluded_unclassified"]
    assert excluded["train"] + excluded["test"] == n_unclassified
    assert metrics["n_train"] + metrics["n_test"] == gold.height - n_unclassified


def test_model_is_scored_on_later_weeks_it_never_saw(pipeline_run):
    paths = LakePaths(pipeline_run.lake)
    version = pipeline_run.summary.model_version
    metrics = json.loads((paths.model(version) / "metrics.json").read_text())
    for field in ("accuracy", "macro_f1", "per_class", "n_train", "n_test", "split", "candidates"):
        assert field in metrics
    assert max(metrics["split"]["train_weeks"]) < min(metrics["split"]["test_weeks"])
    assert set(metrics["per_class"]) == {"High", "Medium", "Low"}
    assert 0.0 < metrics["macro_f1"] <= 1.0
    assert (paths.model(version) / "model_card.md").read_text().startswith(f"# Basket price-sensitivity model {version}")


def test_registered_model_is_approved_and_released(pipeline_run):
    registry = LocalModelRegistry(pipeline_run.lake)
    version = latest_metadata(pipeline_run.instance, "registered_model", "model_version")
    assert version == pipeline_run.summary.model_version
    assert registry.get(version).status == APPROVED
    assert registry.released()["version"] == version


def test_every_check_passed(pipeline_run):
    instance = pipeline_run.instance
    storage = instance.event_log_storage
    from retail_assets.definitions import defs

    for check_key in defs().resolve_asset_graph().asset_check_keys:
        history = storage.get_asset_check_execution_history(check_key, limit=1)
        assert history, f"{check_key.name} never ran"
        evaluation = history[0].event.dagster_event.event_specific_data
        assert evaluation.passed, f"{check_key.name} failed: {evaluation.metadata}"


def test_a_failed_quality_gate_keeps_the_current_model_serving(pipeline_run, monkeypatch):
    from rich.console import Console
    from rich.progress import Progress

    from retail_assets.pipeline import PipelineError, run_pipeline

    registry = LocalModelRegistry(pipeline_run.lake)
    serving_before = registry.released()["version"]
    monkeypatch.setenv("RETAIL_MIN_MACRO_F1", "0.999")
    with pytest.raises(PipelineError, match="model_meets_quality_floor failed"):
        run_pipeline(None, pipeline_run.instance, Progress(console=Console(quiet=True)))
    assert registry.released()["version"] == serving_before
    assert registry.latest_approved().version == serving_before
