"""basket_predictions: the weeks since the released model's training data, scored in batch by the
pipeline run (as `retail-mlops materialize` does), exactly as the API scores the same baskets."""

import json

import dagster as dg
import numpy as np
from deltalake import DeltaTable

from retail_assets.defs.asset_keys import BASKET_PREDICTIONS
from retail_assets.defs.scoring.sensors import basket_scoring_sensor
from retail_assets.scoring.batch import check_weeks
from retail_model import basket_features
from retail_model.features.table import basket_from_gold


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
