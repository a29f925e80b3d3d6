"""Train/serve parity: the API computes exactly the features the model was trained on."""


from tests.helpers.gold import request_from_gold

from retail_api.schemas import BasketIn
from retail_model.features.table import basket_from_gold
from retail_model import basket_features


def test_every_gold_basket_gets_the_same_features_through_the_api(pipeline_run):
    gold = pipeline_run.store.scan("gold").collect()
    stored = pipeline_run.store.scan("features").collect()
    stored_by_id = {
        row["basket_id"]: dict(zip(row["feature_names"], row["feature_values"], strict=True))
        for row in stored.iter_rows(named=True)
    }
    assert len(stored_by_id) == gold.height
    for row in gold.iter_rows(named=True):
        training_side = basket_features(basket_from_gold(row))
        serving_side = basket_features(BasketIn.model_validate(request_from_gold(row)).to_basket())
        assert serving_side == training_side == stored_by_id[row["basket_id"]], row["basket_id"]


def test_features_never_see_the_label(pipeline_run):
    gold = pipeline_run.store.scan("gold").head(50).collect()
    for row in gold.iter_rows(named=True):
        flipped = {**row, "basket_price_sensitivity": "XX" if row["basket_price_sensitivity"] != "XX" else "LA"}
        assert basket_features(basket_from_gold(row)) == basket_features(basket_from_gold(flipped))
    assert not any("basket_price_sensitivity" in name for name in basket_features(basket_from_gold(gold.row(0, named=True))))
