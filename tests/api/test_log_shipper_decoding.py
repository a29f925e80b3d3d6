"""The shipper rebuilds each logged basket from the request body without re-checking it (the
endpoint already accepted it): the rows it writes must be exactly what the endpoint's own decoder
and `basket_features` give, for every form a valid body can take."""

from __future__ import annotations

import json

import msgspec
import pytest

from retail_api.log_shipper import rebuild
from retail_api.prediction_spool import Captured, RECORD_END, captured
from retail_api.schemas import BasketIn, BatchIn
from retail_model import basket_features

_LINE = {"prod_code": "PRD0900033", "quantity": 2, "spend": 1.5}
_BASKET = {
    "basket_id": "994100100532898",
    "shop_date": "2007-04-18",
    "shop_hour": 20,
    "store_code": "STORE00001",
    "store_format": "LS",
    "store_region": "E02",
    "basket_size": "L",
    "basket_type": "Full Shop",
    "basket_dominant_mission": "Fresh",
    "lines": [_LINE],
}
BASKETS = {
    "minimal, anonymous": _BASKET,
    "whole numbers spelt as floats": _BASKET | {"shop_hour": 20.0, "lines": [_LINE | {"quantity": 3.0}], "explain": 3.0},
    "every hierarchy level, some null": _BASKET | {"lines": [_LINE | {"prod_code_10": "CL00201", "prod_code_20": None, "prod_code_30": "G00016",
                                                                       "prod_code_40": "D00003"}, {"prod_code": "PRD0903052", "quantity": 1, "spend": 0.0}]},
    "a customer with a segment": _BASKET | {"customer": {"code": "CUST0000123", "price_sensitivity": "LA", "lifestage": "YF"}},
    "a customer without a code": _BASKET | {"customer": {"price_sensitivity": "MM"}},
    "a customer's code alone": _BASKET | {"customer": {"code": "CUST0000123"}},
    "explained": _BASKET | {"explain": 5},
    "the same product twice": _BASKET | {"lines": [_LINE, _LINE | {"spend": 2.25}]},
}  # fmt: skip


def _spooled(body: bytes, batch: bool, n: int) -> Captured:
    record = captured("r1", "v1", batch, ["LA"] * n, [[0.5, 0.3, 0.2]] * n, body)
    return msgspec.json.decode(record.head + record.body + RECORD_END, type=Captured)


@pytest.mark.parametrize("form", BASKETS)
def test_a_logged_basket_has_the_features_the_endpoint_computed(form):
    body = json.dumps(BASKETS[form], indent=2).encode()  # spread over lines, as a client may send it
    endpoint = msgspec.json.decode(body, type=BasketIn)
    answered = rebuild(_spooled(body, batch=False, n=1))
    assert answered.basket_ids == [endpoint.basket_id]
    assert answered.features == [basket_features(endpoint)]


def test_a_logged_batch_has_each_baskets_features_in_order():
    body = json.dumps({"baskets": list(BASKETS.values()), "explain": 2}).encode()
    endpoint = msgspec.json.decode(body, type=BatchIn)
    answered = rebuild(_spooled(body, batch=True, n=len(BASKETS)))
    assert answered.basket_ids == [basket.basket_id for basket in endpoint.baskets]
    assert answered.features == [basket_features(basket) for basket in endpoint.baskets]
    assert answered.codes == ["LA"] * len(BASKETS)


def test_a_body_that_does_not_match_its_answers_is_refused():
    body = json.dumps({"baskets": [_BASKET, _BASKET]}).encode()
    with pytest.raises(ValueError, match="2 baskets but 1 answers"):
        rebuild(_spooled(body, batch=True, n=1))
