"""Baskets straight to the scorer's columns answer exactly what their feature dicts answer.

`FeatureSpace.gather_baskets` must give the CSR parts `gather([basket_features(b) ...])` gives,
to the last bit (same dtypes, same columns in the same order, same float64 bits), and
`model.score_baskets` the same codes and the same floats as `model.score` of the feature dicts,
for every candidate type training can produce, on held-out baskets and on hand-made odd ones.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler
from tests.helpers.scoring_data import CANDIDATES, fit_pipeline, train_and_held_out

from retail_model import Basket, BasketLine, Customer, basket_features
from retail_model.artifact import PriceSensitivityModel
from retail_model.features.columns import BasketColumns

MAX_LINES = 500  # the API's default RETAIL_MAX_BASKET_LINES


@pytest.fixture(scope="module")
def data():
    train, held_out = train_and_held_out()
    return train, [item.basket for item in held_out]


def _line(code: str, quantity=1, spend=1.0, level_10: str | None = "CL-X", level_20: str | None = "DEP-X") -> BasketLine:
    return BasketLine(code, level_10, level_20, None, None, quantity, spend)


def quirky_baskets(template: Basket) -> list[Basket]:
    """Odd but possible baskets, built on a held-out one so most of their names are known."""
    known = template.lines[0]
    other = replace(known, prod_code=known.prod_code + "-twin")  # same product_10 and product_20, unseen product
    rng = random.Random(7)
    cents = [_line(known.prod_code, rng.randint(1, 9), round(rng.uniform(0.01, 99.99), 2)) for _ in range(60)]
    huge = [_line(known.prod_code, 1, 1e16), *[_line(known.prod_code, 1, 1.0) for _ in range(20)], _line(known.prod_code, 1, -1e16)]
    baskets = [
        replace(template, lines=(known, known, other, known)),  # the same product on three lines
        replace(template, lines=(replace(known, prod_code_10=None, prod_code_20=""), replace(known, prod_code_10="", prod_code_20=None))),
        replace(template, customer=None),
        replace(template, customer=Customer(None, "LA", "YA")),  # no code: anonymous, segments ignored
        replace(template, customer=Customer("", "UM", "OA")),
        replace(template, customer=Customer("C1", None, None)),  # missing segments read as XX
        replace(template, customer=Customer("C1", "", "")),
        replace(template, customer=Customer("C1", "ZZ", "NEVER")),  # unseen segments
        replace(template, store_region="Z99", store_format="NEVER", basket_size="XXL", basket_type="?", basket_dominant_mission="?"),
        replace(template, lines=(_line("never-seen-1", level_10="never-10", level_20="never-20"), _line("never-seen-2"))),
        replace(template, lines=(_line(known.prod_code, 0, 0.0), _line(known.prod_code, -2, -5.5))),  # spend and quantity <= 0
        replace(template, lines=(_line(known.prod_code, 3, -0.0), _line("x", 1, 0.0))),
        replace(template, lines=(_line(known.prod_code, 2, 2.5), _line("y", 0, -1.0))),  # total quantity 2 after a 0
        replace(template, lines=()),  # no lines at all (the API refuses it; the features define it)
        replace(template, lines=tuple(cents)),  # a sum whose rounding depends on the order of the additions
        replace(template, lines=tuple(huge)),
        replace(template, lines=tuple(_line(f"P{n % 97}", n % 5 + 1, n / 7, f"C{n % 13}", f"D{n % 3}") for n in range(MAX_LINES))),
        replace(template, lines=(_line(""),)),  # an empty product code is a name of its own ("product=")
    ]
    # every weekday and both sides of each hour band's edges
    baskets += [replace(template, shop_date=date(2008, 1, 6) + timedelta(days=day), shop_hour=hour) for day, hour in
                zip(range(7), (0, 11, 12, 16, 17, 23, 8), strict=True)]  # fmt: skip
    return baskets


def _fit(name: str, train) -> PriceSensitivityModel:
    """A candidate as training fits it; or a float32 vectorizer with a MaxAbsScaler before a linear model (casts and
    scales both), or a model of two classes (its answers placed among three)."""
    if name in CANDIDATES:
        return fit_pipeline(name, train)
    if name == "two_classes":
        return fit_pipeline("logistic_regression", train, ("LA", "UM"))
    labelled = [item for item in train if item.code != "XX"]
    rows, target = [basket_features(item.basket) for item in labelled], [("LA", "MM", "UM").index(item.code) for item in labelled]
    steps = [("vectorize", DictVectorizer(dtype=np.float32)), ("scale", MaxAbsScaler()), ("classify", LogisticRegression(max_iter=300))]
    return PriceSensitivityModel(Pipeline(steps).fit(rows, target), {"classes": ["LA", "MM", "UM"]}, version="f32")


def _bits(parts):
    return [(array.dtype, array.shape, array.tobytes()) for array in parts]


@pytest.mark.parametrize("name", [*CANDIDATES, "float32_scaled_logistic", "two_classes"])
def test_baskets_score_as_their_feature_dicts_for_every_candidate(name, data):
    train, held_out = data
    model = _fit(name, train)
    baskets = held_out + quirky_baskets(held_out[0])
    rows = list(map(basket_features, baskets))
    scorer = model.prepare()
    if name == "dummy_prior":  # a constant answer reads no features: score_baskets takes the dict path
        assert scorer.space is None
    else:
        space = scorer.space
        assert space is not None
        parts = space.gather_baskets(baskets)
        assert _bits(parts) == _bits(space.gather(rows))
        assert scorer.probabilities_of(parts).tobytes() == scorer.probabilities(rows).tobytes()
        for count in (0, 1, 2):  # empty, one basket and two, through the builder too
            assert _bits(space.gather_baskets(baskets[:count])) == _bits(space.gather(rows[:count]))
    assert model.score_baskets(baskets) == model.score(rows)
    assert model.score_baskets(baskets[:2]) == model.score(rows[:2])
    for basket, row in zip(baskets[-12:], rows[-12:], strict=True):  # one basket: score's plain-Python path, as before
        assert model.score_baskets([basket]) == model.score([row])
    assert model.score_baskets([]) == model.score([]) == ([], [])


def test_the_columns_follow_the_dicts_order_and_drop_what_the_vocabulary_never_saw():
    """Read off a small vocabulary by hand: first occurrences in dict order, unseen names left out."""
    vocabulary = {name: column for column, name in enumerate(
        ["product=A", "product_10=C1", "product=B", "store_region=E02", "log_spend", "customer=anonymous", "shop_hour_band=evening",
         "product_20=D1", "shop_weekday=1"])}  # fmt: skip
    basket = Basket(date(2008, 1, 6), 18, "S1", "LS", "E02", "L", "Top Up", "Fresh", None,
                    (_line("B", level_10="C1", level_20="D1"), _line("A", level_10="C1", level_20=None), _line("B", 2, 3.0)))  # fmt: skip
    indptr, columns, values = BasketColumns(vocabulary).parts([basket, basket])
    # store_region, weekday 1 (a Sunday), evening, anonymous, B, C1, D1, A, then log_spend
    row = [3, 8, 6, 5, 2, 1, 7, 0, 4]
    assert indptr.tolist() == [0, 9, 18] and columns.tolist() == row + row
    assert values[8] == values[17] == basket_features(basket)["log_spend"] and values[[0, 1, 2, 3, 4, 5, 6, 7]].tolist() == [1.0] * 8


def test_repeats_are_dropped_alike_when_the_batch_is_too_large_for_one_sort_key(data):
    """The (row, column, position) sort key is one int64 up to huge batches and vocabularies; beyond, a lexsort."""
    train, held_out = data
    space = fit_pipeline("logistic_regression", train).scorer.space
    baskets = held_out + quirky_baskets(held_out[0])
    columns = BasketColumns(space.vocabulary)
    columns._n_columns = 1 << 62  # as if the vocabulary were that large: the key no longer fits
    assert _bits(columns.parts(baskets)) == _bits(BasketColumns(space.vocabulary).parts(baskets))
