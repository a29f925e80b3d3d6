"""Reading landed files: both column spellings, quarantine with reasons, counts that reconcile."""

import polars as pl
import pytest

from retail_assets.ingest import contract
from retail_assets.ingest.reader import UnreadableFileError, read_weekly_file
from retail_assets.lake.transforms import gold_from_silver, silver_from_raw
from tests.helpers.landed_files import GOOD, write

def test_good_rows_are_typed_and_kept(tmp_path):
    second = {**GOOD, "PROD_CODE": "PRD0900034", "CUST_CODE": "", "CUST_PRICE_SENSITIVITY": "", "CUST_LIFESTAGE": ""}
    result = read_weekly_file(write(tmp_path / "transactions_200607.csv", [GOOD, second]))
    assert result.rows_read == 2 and result.kept.height == 2 and result.quarantined.is_empty()
    row = result.kept.row(0, named=True)
    assert row["shop_date"].isoformat() == "2006-04-10" and row["spend"] == pytest.approx(0.93)
    assert row["basket_id"] == "994100100398294"  # ids stay strings: no float rounding of 15 digits
    assert result.kept["cust_code"][1] is None  # anonymous shopper


def test_seg_spelling_is_normalised_to_dunnhumby_codes(tmp_path):
    header = [{"CUST_PRICE_SENSITIVITY": "seg_1", "CUST_LIFESTAGE": "seg_2"}.get(c, c) for c in contract.COLUMNS]
    row = {**GOOD}
    row["seg_1"], row["seg_2"] = "AZ", "FN"  # AZ = LA, FN = PE
    result = read_weekly_file(write(tmp_path / "transactions_200607.csv", [row], header=header))
    assert result.column_spelling == "seg"
    assert result.kept.select("cust_price_sensitivity", "cust_lifestage").row(0) == ("LA", "PE")


def test_header_case_whitespace_and_bom_are_tolerated(tmp_path):
    path = tmp_path / "transactions_200607.csv"
    header = ",".join(f" {c.lower()} " for c in contract.COLUMNS)
    path.write_bytes(("\ufeff" + header + "\r\n" + ",".join(GOOD[c] for c in contract.COLUMNS) + "\r\n").encode())
    assert read_weekly_file(path).kept.height == 1


def test_bad_rows_go_to_quarantine_with_every_reason_and_counts_reconcile(tmp_path):
    bad_types = {**GOOD, "SPEND": "abc", "SHOP_DATE": "2006041x", "SHOP_HOUR": "25"}
    bad_domain = {**GOOD, "BASKET_TYPE": "Weird", "STORE_FORMAT": "XXL"}
    missing_id = {**GOOD, "BASKET_ID": ""}
    wrong_week = {**GOOD, "SHOP_WEEK": "200608"}
    path = write(tmp_path / "transactions_200607.csv", [GOOD, bad_types, bad_domain, missing_id, wrong_week], raw_lines=["1,2,3"])
    result = read_weekly_file(path)
    assert result.rows_read == 6
    assert result.kept.height + result.quarantined.height == result.rows_read
    reasons = dict(zip(result.quarantined["source_line"], result.quarantined["reason"], strict=True))
    # source_line is the physical line in the file, as an editor shows it: the header is line 1.
    assert "SPEND is not a number" in reasons[3] and "SHOP_DATE" in reasons[3] and "SHOP_HOUR" in reasons[3]
    assert "BASKET_TYPE not in contract: Weird" in reasons[4] and "STORE_FORMAT" in reasons[4]
    assert reasons[5] == "missing BASKET_ID"
    assert "differs from the file's week" in reasons[6]
    assert reasons[7] == "has 3 fields, expected 22"
    # The quarantine keeps the row as it landed, so nothing is lost.
    assert result.quarantined.filter(pl.col("source_line") == 3)["spend"][0] == "abc"
    assert result.quarantined.filter(pl.col("source_line") == 7)["line"][0] == "1,2,3"
    assert result.reason_counts["SPEND is not a number"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary", "binary"),
        (b"SHOP_WEEK,SPEND\n200607,1.0\n", "missing column"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path, content, message):
    path = tmp_path / "transactions_200607.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError, match=message):
        read_weekly_file(path)


def test_file_name_must_carry_the_week(tmp_path):
    with pytest.raises(UnreadableFileError, match="transactions_YYYYWW"):
        read_weekly_file(write(tmp_path / "week7.csv", [GOOD]))


def test_gold_has_one_row_per_basket_with_its_lines(tmp_path):
    rows = [GOOD, {**GOOD, "PROD_CODE": "PRD0000001", "SPEND": "2.00"}, {**GOOD, "BASKET_ID": "994100100000001"}]
    kept = read_weekly_file(write(tmp_path / "transactions_200607.csv", rows)).kept
    gold = gold_from_silver(silver_from_raw(kept))
    assert gold.height == 2
    basket = gold.filter(pl.col("basket_id") == "994100100398294").row(0, named=True)
    assert basket["n_lines"] == 2 and basket["total_spend"] == pytest.approx(2.93)
    assert [line["prod_code"] for line in basket["lines"]] == ["PRD0000001", "PRD0900033"]
    assert basket["inconsistent_columns"] == 0


def test_gold_flags_baskets_whose_lines_disagree(tmp_path):
    rows = [GOOD, {**GOOD, "PROD_CODE": "PRD0000001", "STORE_CODE": "STORE00002"}]
    gold = gold_from_silver(silver_from_raw(read_weekly_file(write(tmp_path / "transactions_200607.csv", rows)).kept))
    assert gold["inconsistent_columns"][0] == 1
