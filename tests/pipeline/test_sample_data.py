"""The sample-data generator: layout, domains, determinism, and that the label lives in the products."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from retail_assets.ingest import contract
from retail_assets.sample_data import REPORT_FILE_NAME, SampleDataReport, generate_sample_data
from retail_model.labels import TRAINABLE_CODES

SMALL = dict(weeks=3, baskets_per_week=500, seed=11)
LARGE = dict(weeks=4, baskets_per_week=3000, seed=5)


def _read(files: list[Path]) -> pl.DataFrame:
    """All files as strings, exactly as written (empty fields -> null)."""
    return pl.concat([pl.read_csv(path, infer_schema=False) for path in files])


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[SampleDataReport, pl.DataFrame]:
    report = generate_sample_data(tmp_path_factory.mktemp("small"), **SMALL)
    return report, _read(report.files)


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> tuple[SampleDataReport, pl.DataFrame]:
    report = generate_sample_data(tmp_path_factory.mktemp("large"), **LARGE)
    return report, _read(report.files)


def _baskets(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("BASKET_ID").agg(pl.col(contract.BASKET_COLUMNS).first(), pl.len().alias("lines"))


# --- layout -----------------------------------------------------------------------------------


def test_header_is_exactly_the_contract_columns(small):
    report, _ = small
    for path in report.files:
        with path.open() as handle:
            assert tuple(handle.readline().rstrip("\n").split(",")) == contract.COLUMNS


def test_file_names_follow_the_weeks_and_roll_over_the_year(tmp_path):
    report = generate_sample_data(tmp_path, weeks=3, baskets_per_week=20, first_week=200651)
    assert report.weeks == [200651, 200652, 200701]
    assert [path.name for path in report.files] == [
        "transactions_200651.csv",
        "transactions_200652.csv",
        "transactions_200701.csv",
    ]
    assert all(contract.FILE_NAME_PATTERN.match(path.name) for path in report.files)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(p.name for p in report.files), REPORT_FILE_NAME])
    # 2009 has 53 ISO weeks.
    assert generate_sample_data(tmp_path / "y2009", weeks=2, baskets_per_week=5, first_week=200953).weeks == [
        200953,
        201001,
    ]


@pytest.mark.parametrize("bad", [200600, 200654, 200753, 12345])
def test_a_week_that_does_not_exist_is_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        generate_sample_data(tmp_path, weeks=1, baskets_per_week=5, first_week=bad)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError):
        generate_sample_data(tmp_path, weeks=0)
    with pytest.raises(ValueError):
        generate_sample_data(tmp_path, baskets_per_week=0)
    with pytest.raises(ValueError):
        generate_sample_data(tmp_path, weeks=1, baskets_per_week=5, column_spelling="kaggle")


def test_report_json_matches_the_report(small):
    report, frame = small
    out_dir = report.files[0].parent
    assert json.loads((out_dir / REPORT_FILE_NAME).read_text()) == report.to_dict()
    assert report.rows == frame.height
    assert report.baskets == frame["BASKET_ID"].n_unique() == SMALL["weeks"] * SMALL["baskets_per_week"]
    assert list(report.label_shares) == list(contract.PRICE_SENSITIVITY_CODES)
    assert sum(report.label_shares.values()) == pytest.approx(1.0)


# --- determinism --------------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_files(tmp_path, small):
    report, _ = small
    again = generate_sample_data(tmp_path / "again", **SMALL)
    assert [p.name for p in again.files] == [p.name for p in report.files]
    for first, second in zip(report.files, again.files):
        assert first.read_bytes() == second.read_bytes()
    assert {k: v for k, v in again.to_dict().items() if k != "files"} == {
        k: v for k, v in report.to_dict().items() if k != "files"
    }


def test_a_different_seed_gives_different_data(tmp_path, small):
    report, _ = small
    other = generate_sample_data(tmp_path, **{**SMALL, "seed": SMALL["seed"] + 1})
    assert all(a.read_bytes() != b.read_bytes() for a, b in zip(report.files, other.files))


def test_a_week_does_not_depend_on_where_the_run_started(tmp_path):
    long = generate_sample_data(tmp_path / "long", weeks=3, baskets_per_week=50, first_week=200651)
    short = generate_sample_data(tmp_path / "short", weeks=1, baskets_per_week=50, first_week=200701)
    assert long.files[-1].read_bytes() == short.files[0].read_bytes()


# --- values -------------------------------------------------------------------------------------


def test_values_are_in_the_contract_domains(small):
    _, frame = small
    for column, domain in contract.DOMAINS.items():
        values = set(frame[column].drop_nulls().unique().to_list())
        assert values <= set(domain), (column, values - set(domain))
    for column in contract.REQUIRED_COLUMNS:
        assert frame[column].null_count() == 0, column
    assert set(frame["BASKET_PRICE_SENSITIVITY"].unique()) == set(contract.PRICE_SENSITIVITY_CODES)
    assert all(contract.STORE_REGION_PATTERN.match(r) for r in frame["STORE_REGION"].unique())
    patterns = {
        "SHOP_WEEK": r"20\d{4}",
        "SHOP_DATE": r"20\d{6}",
        "SHOP_WEEKDAY": r"[1-7]",
        "SPEND": r"\d+\.\d{2}",
        "PROD_CODE": r"PRD\d{7}",
        "PROD_CODE_10": r"CL\d{5}",
        "PROD_CODE_20": r"DEP\d{5}",
        "PROD_CODE_30": r"G\d{5}",
        "PROD_CODE_40": r"D\d{5}",
        "CUST_CODE": r"CUST\d{10}",
        "BASKET_ID": r"[1-9]\d{14}",
        "STORE_CODE": r"STORE\d{5}",
    }
    for column, pattern in patterns.items():
        assert frame[column].drop_nulls().str.contains(f"^{pattern}$").all(), column
    hours = frame["SHOP_HOUR"].cast(pl.Int64)
    assert hours.min() >= 8 and hours.max() <= 21
    quantity = frame["QUANTITY"].cast(pl.Int64)
    assert quantity.min() >= 1 and (quantity == 1).mean() > 0.6
    assert frame["SPEND"].cast(pl.Float64).min() > 0


def test_dates_weekdays_and_weeks_agree(small):
    _, frame = small
    check = frame.select("SHOP_WEEK", "SHOP_DATE", "SHOP_WEEKDAY").unique()
    for week, day, weekday in check.iter_rows():
        shop_date = date(int(day[:4]), int(day[4:6]), int(day[6:]))
        iso = shop_date.isocalendar()
        assert int(week) == iso.year * 100 + iso.week
        assert int(weekday) == shop_date.isoweekday() % 7 + 1  # 1 = Sunday
    assert check["SHOP_WEEKDAY"].n_unique() == 7


def test_spend_is_unit_price_times_quantity_with_small_noise(large):
    _, frame = large
    unit = frame.select(
        "PROD_CODE", (pl.col("SPEND").cast(pl.Float64) / pl.col("QUANTITY").cast(pl.Int64)).round(2).alias("unit")
    )
    modal = (
        unit.group_by("PROD_CODE", "unit")
        .len()
        .group_by("PROD_CODE")
        .agg(pl.col("len").max().alias("modal"), pl.col("len").sum().alias("rows"))
        .filter(pl.col("rows") >= 20)
    )
    assert modal.height > 100
    assert (modal["modal"] / modal["rows"]).mean() > 0.8  # most lines pay the shelf price


# --- structure -----------------------------------------------------------------------------------


def test_basket_level_columns_are_constant_within_a_basket(small):
    _, frame = small
    distinct = frame.group_by("BASKET_ID").agg(
        [pl.col(c).fill_null("<null>").n_unique().alias(c) for c in contract.BASKET_COLUMNS]
    )
    for column in contract.BASKET_COLUMNS:
        assert distinct[column].max() == 1, column


def test_basket_ids_are_unique_across_weeks_and_products_once_per_basket(small):
    _, frame = small
    weeks_per_basket = frame.group_by("BASKET_ID").agg(pl.col("SHOP_WEEK").n_unique())
    assert weeks_per_basket["SHOP_WEEK"].max() == 1
    assert frame.select("BASKET_ID", "PROD_CODE").is_duplicated().sum() == 0
    # A basket's rows are contiguous in its file.
    runs = (frame["BASKET_ID"] != frame["BASKET_ID"].shift(1)).fill_null(True).sum()
    assert runs == frame["BASKET_ID"].n_unique()


def test_about_a_fifth_of_rows_are_anonymous_and_have_no_segments(small):
    _, frame = small
    anonymous = frame["CUST_CODE"].is_null()
    assert 0.15 <= anonymous.mean() <= 0.25
    for column in ("CUST_PRICE_SENSITIVITY", "CUST_LIFESTAGE"):
        assert frame.filter(anonymous)[column].null_count() == anonymous.sum()
        assert frame.filter(~anonymous)[column].null_count() == 0


def test_lines_per_basket_and_size(small):
    _, frame = small
    baskets = _baskets(frame)
    assert 5.5 <= baskets["lines"].mean() <= 7.5
    by_size = dict(baskets.group_by("BASKET_SIZE").agg(pl.mean("lines")).iter_rows())
    assert by_size["S"] < by_size["M"] < by_size["L"]


def test_product_hierarchy_has_one_parent_per_child(large):
    _, frame = large
    levels = ["PROD_CODE", "PROD_CODE_10", "PROD_CODE_20", "PROD_CODE_30", "PROD_CODE_40"]
    for child, parent in zip(levels, levels[1:]):
        parents = frame.group_by(child).agg(pl.col(parent).n_unique())
        assert parents[parent].max() == 1, (child, parent)
    counts = [frame[level].n_unique() for level in levels]
    assert counts[0] > 3000 and counts[1] > 800 and 200 <= counts[2] <= 250 and counts[3] == 90 and counts[4] == 10
    # Long-tailed popularity: the top 10% of products take a large share of the lines.
    per_product = frame["PROD_CODE"].value_counts()["count"].sort(descending=True)
    assert per_product.head(len(per_product) // 10).sum() / per_product.sum() > 0.35


def test_shares_stores_and_regions_look_like_the_public_sample(large):
    report, frame = large
    targets = {"MM": 0.51, "UM": 0.24, "LA": 0.23, "XX": 0.02}
    for code, target in targets.items():
        assert report.label_shares[code] == pytest.approx(target, abs=0.03), code
    baskets = _baskets(frame)
    type_shares = dict(baskets["BASKET_TYPE"].value_counts(normalize=True).iter_rows())
    for name, target in {"Small Shop": 0.55, "Top Up": 0.33, "Full Shop": 0.11, "XX": 0.01}.items():
        assert type_shares[name] == pytest.approx(target, abs=0.03), name
    rows_by_region = frame["STORE_REGION"].value_counts()["count"]
    assert len(rows_by_region) == 12 and rows_by_region.max() <= 2 * rows_by_region.min()
    assert frame["STORE_CODE"].n_unique() > 600
    assert set(frame["STORE_FORMAT"].unique()) == set(contract.STORE_FORMATS)
    # Customer segments follow the label prior, and the basket label agrees with them more often.
    known = baskets.filter(pl.col("CUST_CODE").is_not_null())
    agree = (known["CUST_PRICE_SENSITIVITY"] == known["BASKET_PRICE_SENSITIVITY"]).mean()
    assert 0.45 < agree < 0.75


# --- the alternative spelling -----------------------------------------------------------------------


def test_seg_spelling_reads_back_to_the_same_data(tmp_path, small):
    report, frame = small
    seg = generate_sample_data(tmp_path, **SMALL, column_spelling="seg")
    renamed = {v: k for k, v in contract.ALTERNATIVE_COLUMN_NAMES.items()}
    for path in seg.files:
        with path.open() as handle:
            header = tuple(handle.readline().rstrip("\n").split(","))
        assert header == tuple(renamed.get(c, c) for c in contract.COLUMNS)
    alt = _read(seg.files)
    assert set(alt["seg_1"].drop_nulls().unique()) <= set(contract.ALTERNATIVE_CODES["CUST_PRICE_SENSITIVITY"])
    back = alt.rename(contract.ALTERNATIVE_COLUMN_NAMES).with_columns(
        # Lifestage XX has no alternative code and stays XX.
        pl.col(column).replace(contract.ALTERNATIVE_CODES[column])
        for column in contract.ALTERNATIVE_COLUMN_NAMES.values()
    )
    assert back.equals(frame)
    assert seg.ceiling_macro_f1 == report.ceiling_macro_f1


# --- the label lives in the products ------------------------------------------------------------------


def test_ceiling_is_high_but_not_perfect(small, large):
    for report, _ in (small, large):
        assert 0.85 <= report.ceiling_macro_f1 <= 0.99
        assert 0.85 <= report.ceiling_accuracy <= 0.99


def test_label_is_learnable_from_products_not_from_basket_attributes(large):
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    report, frame = large
    frame = frame.filter(pl.col("BASKET_PRICE_SENSITIVITY").is_in(list(TRAINABLE_CODES)))
    baskets = frame.group_by("BASKET_ID", maintain_order=True).agg(
        pl.first("SHOP_WEEK", "BASKET_PRICE_SENSITIVITY", "BASKET_SIZE", "BASKET_TYPE")
    )
    basket_index = baskets.with_row_index("row").select("BASKET_ID", "row")
    lines = frame.join(basket_index, on="BASKET_ID").with_columns(
        pl.col("PROD_CODE").cast(pl.Categorical).to_physical().alias("col")
    )
    products = sparse.csr_matrix(
        (np.ones(lines.height), (lines["row"].to_numpy(), lines["col"].to_numpy())),
        shape=(baskets.height, int(lines["col"].max()) + 1),
    )
    attributes = baskets.select("BASKET_SIZE", "BASKET_TYPE").to_dummies().to_numpy().astype(float)
    y = baskets["BASKET_PRICE_SENSITIVITY"].to_numpy()
    test = (baskets["SHOP_WEEK"] == str(report.weeks[-1])).to_numpy()

    def score(features) -> float:
        model = LogisticRegression(max_iter=1000).fit(features[~test], y[~test])
        return f1_score(y[test], model.predict(features[test]), average="macro")

    from_products, from_attributes = score(products), score(attributes)
    assert from_attributes < 0.45
    assert from_products > 0.75
    assert from_products > from_attributes + 0.3
    assert from_products <= report.ceiling_macro_f1 + 0.03
