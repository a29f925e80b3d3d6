"""The bulk feature table equals the per-basket feature code on baskets with the data's quirks.

The pipeline's parity test covers the generated sample; these gold rows are written by hand to
hold what the sample may not: an anonymous shopper whose extract still carries segment codes,
an empty customer code, a known customer with no segments, product levels missing or empty,
a product bought on two lines, spend whose float sum depends on the order of the lines, and
shop hours and dates on the bands' edges.
"""

from datetime import date

import polars as pl
import pytest

from retail_model import basket_features
from retail_model.features.table import FEATURE_TABLE_SCHEMA, basket_from_gold, build_feature_table


def _line(prod: str, p10: str | None, p20: str | None, quantity: int, spend: float) -> dict:
    return {"prod_code": prod, "prod_code_10": p10, "prod_code_20": p20, "prod_code_30": "CL30", "prod_code_40": "CL40",
            "quantity": quantity, "spend": spend}


def _basket(basket_id: str, week: int, day: date, hour: int, cust: tuple, lines: list[dict]) -> dict:
    code, sensitivity, lifestage = cust
    return {
        "basket_id": basket_id, "shop_week": week, "shop_date": day, "shop_weekday": day.isoweekday() % 7 + 1, "shop_hour": hour,
        "cust_code": code, "cust_price_sensitivity": sensitivity, "cust_lifestage": lifestage, "basket_size": "M",
        "basket_price_sensitivity": "MM", "basket_type": "Top Up", "basket_dominant_mission": "Fresh", "store_code": "STORE00001",
        "store_format": "LS", "store_region": "E02", "lines": lines,
    }


QUIRKY_GOLD = [
    # Anonymous, but the extract put segment codes beside the empty code; Sunday, 11 o'clock.
    _basket("B1", 200607, date(2006, 4, 9), 11, (None, "LA", "YF"), [_line("PRD1", "CL10A", "CL20A", 1, 0.1)]),
    # An empty (not null) customer code is anonymous too; 12 o'clock is afternoon.
    _basket("B2", 200607, date(2006, 4, 10), 12, ("", "UM", "OA"), [_line("PRD2", "", None, 2, 0.2)]),
    # A known customer without segments; 16 and 17 o'clock on the band's edge; lines whose spend
    # sums differently in another order, and the same product on two lines.
    _basket("B3", 200608, date(2006, 4, 15), 16, ("CUST1", None, None), [
        _line("PRD3", "CL10B", "CL20B", 3, 0.1), _line("PRD4", None, "", 1, 0.2), _line("PRD3", "CL10B", "CL20B", 1, 0.3),
        _line("PRD5", "CL10C", "CL20C", 1, 1e16), _line("PRD6", "CL10C", "CL20B", 1, -1e16),
    ]),
    _basket("B4", 200608, date(2006, 4, 16), 17, ("CUST2", "MM", "PE"), [_line("PRD7", "CL10D", "CL20D", 0, 3.5)]),
]


def test_bulk_features_equal_the_per_basket_code_on_quirky_baskets():
    gold = pl.DataFrame(QUIRKY_GOLD).with_columns(pl.col("shop_week").cast(pl.Int32()))
    table = build_feature_table(gold)

    assert dict(table.schema) == FEATURE_TABLE_SCHEMA
    assert table["basket_id"].to_list() == ["B1", "B2", "B3", "B4"]
    for row, stored in zip(gold.iter_rows(named=True), table.iter_rows(named=True), strict=True):
        expected = basket_features(basket_from_gold(row))
        assert len(stored["feature_names"]) == len(set(stored["feature_names"])), "a feature named twice"
        assert dict(zip(stored["feature_names"], stored["feature_values"], strict=True)) == expected, row["basket_id"]
        assert (stored["shop_week"], stored["basket_price_sensitivity"]) == (row["shop_week"], "MM")


def test_a_value_the_names_cannot_be_split_back_from_is_refused():
    gold = pl.DataFrame([_basket("B9", 200607, date(2006, 4, 9), 11, ("CUST9", "LA", "YF"), [_line("PRD\n9", None, None, 1, 1.0)])])
    with pytest.raises(ValueError, match="line break"):
        build_feature_table(gold.with_columns(pl.col("shop_week").cast(pl.Int32())))
