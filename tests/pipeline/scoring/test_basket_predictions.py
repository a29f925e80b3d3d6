"""basket_predictions: the weeks since the released model's training data, scored in batch by the
pipeline run (as `retail-mlops materialize` does), exactly as the API scores the same baskets."""

import json
import shutil

import dagster as dg
import numpy as np
from deltalake import DeltaTable

from retail_assets.defs.asset_keys import BASKET_PREDICTIONS
from retail_assets.defs.scoring.sensors import basket_scoring_sensor
from retail_assets.scoring.batch import check_weeks, gold_week, score_baskets, write_weeks
from retail_model import basket_features
from retail_model.features.table import basket_from_gold
from retail_model.lake import LocalLake
from retail_model.registry import LakeModelRegistry
from tests.helpers.lake_hops import build, land


def test_every_gold_basket_of_the_weeks_since_training_is_scored_once_by_the_released_model(pipeline_run):
    lake, registry = pipeline_run.store, pipeline_run.registry
    serving = registry.serving_entry()
    train_weeks = pipeline_run.metrics(serving.version)["split"]["train_weeks"]
    table = lake.scan("basket_predictions").collect()
    weeks = sorted(table.get_column("shop_week").unique().to_list())
    gold = lake.scan("gold").collect()
    assert weeks == sorted(w for w in gold.get_column("shop_week").unique().to_list() if w > max(train_weeks))
    assert DeltaTable(str(pipeline_run.lake / "basket_predictions")).metadata().partition_columns == ["shop_week"]
    for check in check_weeks(lake, weeks):
        assert check.one_per_basket and check.gold_baskets > 0 and check.versions == [serving.version]
    materialized = pipeline_run.instance.get_materialized_partitions(BASKET_PREDICTIONS)
    assert materialized == {str(w) for w in weeks}


def test_batch_scores_are_the_apis_answers_with_their_top_3_and_the_label(pipeline_run):
    lake, registry = pipeline_run.store, pipeline_run.registry
    model = registry.load_model(registry.serving_entry())
    table = lake.scan("basket_predictions").collect().sort("basket_id").head(300)
    gold = lake.scan("gold").collect().join(table.select("basket_id"), on="basket_id").sort("basket_id")
    codes, probabilities = [], []
    for row in gold.iter_rows(named=True):  # one basket at a time, as /v1/predict computes it
        [code], [matrix] = model.score([basket_features(basket_from_gold(row))])
        codes.append(code)
        probabilities.append(matrix)
    assert table.get_column("predicted_code").to_list() == codes
    assert np.allclose(table.select("probability_high", "probability_medium", "probability_low").to_numpy(), probabilities, atol=1e-9)
    assert table.get_column("true_code").to_list() == gold.get_column("basket_price_sensitivity").to_list()
    for row in table.iter_rows(named=True):
        per_class = {}
        for item in row["top_contributions"]:
            per_class.setdefault(item["class"], []).append(abs(item["contribution"]))
        assert set(per_class) <= {"High", "Medium", "Low"} and all(len(v) <= 3 and v == sorted(v, reverse=True) for v in per_class.values())
    assert set(table.get_column("explanation_link").unique()) <= {"softmax", "calibrated", "blend"}


def test_live_accuracy_reads_the_batch_scores_before_any_api_traffic(pipeline_run):
    event = pipeline_run.instance.get_latest_materialization_event(dg.AssetKey("live_accuracy"))
    metadata = event.asset_materialization.metadata
    assert metadata["source"].value.startswith("basket_predictions")
    assert metadata["batch_scored_baskets"].value > 0
    assert metadata["labelled_baskets"].value > 0


def test_the_sensor_rescores_the_weeks_since_training_after_a_release_and_new_weeks_once(pipeline_run):
    instance, lake, registry = pipeline_run.instance, pipeline_run.store, pipeline_run.registry
    serving = registry.serving_entry()
    train_weeks = pipeline_run.metrics(serving.version)["split"]["train_weeks"]
    resources = {"lake": lake, "model_registry": registry}
    # The pipeline already scored every week after its release: a first look (a daemon started
    # after `retail-mlops materialize`) launches nothing and starts its cursor there.
    fresh = basket_scoring_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert not fresh.run_requests and json.loads(fresh.cursor)["version"] == serving.version
    # A look whose last look came before the release re-scores the weeks since the model's training.
    before_release = json.dumps({"gold": 0, "release": 0, "version": "an-older-model", "weeks": sorted(instance.get_materialized_partitions(dg.AssetKey("raw_transactions")))})
    first = basket_scoring_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=before_release))
    [request] = first.run_requests
    since = sorted(w for w in instance.get_dynamic_partitions("shop_weeks") if int(w) > max(train_weeks))
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (since[0], since[-1])
    again = basket_scoring_sensor(dg.build_sensor_context(instance=instance, resources={"lake": lake, "model_registry": registry}, cursor=first.cursor))
    assert not again.run_requests  # nothing new since: no run
    assert json.loads(first.cursor)["version"] == serving.version


def test_the_sensor_scores_a_week_that_reached_gold_since_its_last_look(pipeline_run):
    instance, lake, registry = pipeline_run.instance, pipeline_run.store, pipeline_run.registry
    weeks = instance.get_dynamic_partitions("shop_weeks")
    unscored = [w for w in weeks if w not in instance.get_materialized_partitions(BASKET_PREDICTIONS)]
    release = instance.fetch_materializations(dg.AssetKey("api_release"), limit=1).records[0].storage_id
    # The last look knew every week but one, before gold was rebuilt with it, and the release since.
    cursor = json.dumps({"gold": 0, "release": release, "version": registry.serving_entry().version,
                         "weeks": [w for w in weeks if w != unscored[0]]})  # fmt: skip
    result = basket_scoring_sensor(dg.build_sensor_context(instance=instance, resources={"lake": lake, "model_registry": registry}, cursor=cursor))
    [request] = result.run_requests
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (unscored[0], unscored[0])


def test_a_scored_week_whose_gold_was_rewritten_is_scored_again_and_keeps_no_stale_row(pipeline_run, tmp_path):
    """A corrected file for a week already scored (here half its lines) rewrites that week of gold:
    the sensor's next look asks for that week alone, and scoring it leaves exactly one prediction per
    basket of the new gold week. A re-delivery whose every line breaks the contract empties its week:
    scoring it again leaves no orphan prediction. On a copy of the pipeline's lake; the Dagster
    instance is only read."""
    instance = pipeline_run.instance
    shutil.copytree(pipeline_run.lake, tmp_path / "lake")
    lake = LocalLake(tmp_path / "lake")
    registry = LakeModelRegistry(lake)
    serving = registry.serving_entry()
    week = sorted(instance.get_materialized_partitions(BASKET_PREDICTIONS))[0]
    gold_before = lake.table_version("gold")
    release = instance.fetch_materializations(dg.AssetKey("api_release"), limit=1).records[0].storage_id
    ingested = sorted(instance.get_materialized_partitions(dg.AssetKey("raw_transactions")))
    # The last look came after the release and knew every week; gold is rebuilt since (gold: 0).
    last_look = {"gold": 0, "release": release, "version": serving.version, "weeks": ingested, "gold_version": gold_before}
    resources = {"lake": lake, "model_registry": registry}
    unchanged = basket_scoring_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=json.dumps(last_look)))
    assert not unchanged.run_requests  # gold rebuilt without rewriting a week: nothing to score

    corrected, _ = redelivered_with_half_its_lines(lake, week, tmp_path / "corrected")
    land(lake, corrected)
    assert build(lake)["gold"].weeks == [int(week)]
    [stale] = check_weeks(lake, [int(week)])
    assert not stale.one_per_basket  # predictions of baskets the corrected week no longer has

    looked = basket_scoring_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=json.dumps(last_look)))
    [request] = looked.run_requests
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (week, week)
    assert json.loads(looked.cursor)["gold_version"] == lake.table_version("gold")
    again = basket_scoring_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=json.dumps(json.loads(looked.cursor) | {"gold": 0})))
    assert not again.run_requests  # the rewrite is asked for once

    model = pipeline_run.registry.load_model(serving)  # registered by its address in the original lake
    write_weeks(lake, {int(week): score_baskets(gold_week(lake, int(week)), model)})  # what the requested run does
    [fresh] = check_weeks(lake, [int(week)])
    assert fresh.one_per_basket and fresh.gold_baskets == gold_week(lake, int(week)).height > 0 and fresh.versions == [serving.version]

    # Then every line of the week's next file breaks the contract: gold no longer holds the week.
    emptied = week
    header, *lines = lake.read_bytes(f"landing/transactions_{emptied}.csv").decode().splitlines()
    broken = tmp_path / "broken" / f"transactions_{emptied}.csv"
    broken.parent.mkdir()
    broken.write_text("\n".join([header, *(",".join(f if i != header.split(",").index("BASKET_TYPE") else "Weird"
                                                    for i, f in enumerate(line.split(","))) for line in lines)]) + "\n")
    last_look = json.loads(looked.cursor) | {"gold": 0}
    land(lake, broken)
    assert build(lake)["gold"].weeks == [int(emptied)] and gold_week(lake, int(emptied)).height == 0
    [request] = basket_scoring_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=json.dumps(last_look))).run_requests
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (emptied, emptied)
    write_weeks(lake, {int(emptied): score_baskets(gold_week(lake, int(emptied)), model)})
    [orphans] = check_weeks(lake, [int(emptied)])
    assert (orphans.predictions, orphans.gold_baskets) == (0, 0) and orphans.one_per_basket


def test_materialize_scores_a_rewritten_week_again_even_when_the_new_model_fails_the_gate(pipeline_run, tmp_path, monkeypatch):
    """`retail-mlops materialize` after a corrected file for a scored week, on copies of the
    pipeline's lake and Dagster home: the new model fails the promotion gate, so the model serving
    before keeps serving, and it scores that week again (as the basket_scoring_sensor would,
    whatever training does) before the run reports the gate's failure. No prediction is left for a
    basket the corrected week no longer has."""
    from rich.console import Console
    from rich.progress import Progress

    from retail_assets.event_store import instance_settings
    from retail_assets.pipeline import PipelineError, run_pipeline

    lake_dir, home = tmp_path / "lake", tmp_path / "home"
    shutil.copytree(pipeline_run.lake, lake_dir)
    for entry in (lake_dir / "registry").rglob("*.json"):  # the registry names its models by their address in the lake
        entry.write_text(entry.read_text().replace(str(pipeline_run.lake), str(lake_dir)))
    shutil.copytree(pipeline_run.dagster_home, home)
    (home / "dagster.yaml").write_text(instance_settings(home))  # the copy's own event log, not the session's
    lake = LocalLake(lake_dir)
    serving = LakeModelRegistry(lake).serving_entry()
    week = sorted(pipeline_run.instance.get_materialized_partitions(BASKET_PREDICTIONS))[0]
    corrected, baskets_before = redelivered_with_half_its_lines(lake, week, tmp_path / "corrected")

    monkeypatch.setenv("RETAIL_LAKE", str(lake_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("RETAIL_MIN_MACRO_F1", "0.999")  # no model trained on the sample reaches it
    with dg.DagsterInstance.get() as instance:
        before = {record.storage_id for record in instance.fetch_materializations(BASKET_PREDICTIONS, limit=1000).records}
        try:
            run_pipeline(corrected.parent, instance, Progress(console=Console(quiet=True)))
        except PipelineError as error:
            assert "model_passed_promotion_gate failed" in str(error)
        else:
            raise AssertionError("the gate let a model below RETAIL_MIN_MACRO_F1=0.999 through")
        scored = [r.partition_key for r in instance.fetch_materializations(BASKET_PREDICTIONS, limit=1000).records if r.storage_id not in before]

    assert LakeModelRegistry(lake).serving_entry().version == serving.version
    assert scored == [week], "that week alone, scored again"
    [fresh] = check_weeks(lake, [int(week)])
    assert fresh.one_per_basket and fresh.versions == [serving.version]
    assert fresh.gold_baskets == gold_week(lake, int(week)).height > 0
    assert fresh.gold_baskets < baskets_before


def redelivered_with_half_its_lines(lake, week: str, directory) -> tuple:
    """A corrected file for `week` in `directory`: its landed file's header and first half of lines.
    Returns the file's path and how many baskets the landed file held."""
    header, *lines = lake.read_bytes(f"landing/transactions_{week}.csv").decode().splitlines()
    basket_id = header.split(",").index("BASKET_ID")
    directory.mkdir()
    corrected = directory / f"transactions_{week}.csv"
    corrected.write_text("\n".join([header, *lines[: len(lines) // 2]]) + "\n")
    return corrected, len({line.split(",")[basket_id] for line in lines})
