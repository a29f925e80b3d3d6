"""The contract's rules run once per commit group: each file must still come out exactly as it
does on its own, and one file that breaks the group's check must not take the others down."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal
from tests.helpers.landed_files import GOOD

from retail_assets.ingest import contract, landing, load
from retail_assets.ingest.fields import file_fields
from retail_assets.ingest.reader import check_files, parse_weekly_file
from retail_assets.lake import tables
from retail_model.lake import LocalLake


def line(week: str, **changes: str) -> str:
    return ",".join({**GOOD, "SHOP_WEEK": week, **changes}[c] for c in contract.COLUMNS)


def lines(week: str, n: int, start: int = 0) -> list[str]:
    return [line(week, BASKET_ID=f"99410010{i:07d}", PROD_CODE=f"PRD{i % 900:07d}") for i in range(start, start + n)]


def csv_bytes(rows: list[str], header: list[str] = contract.COLUMNS, newline: str = "\n") -> bytes:
    return (newline.join([",".join(header), *rows]) + newline).encode()


SEG_HEADER = [{"CUST_PRICE_SENSITIVITY": "seg_1", "CUST_LIFESTAGE": "seg_2"}.get(c, c) for c in contract.COLUMNS]
FILES = {
    # The fast path: a row of the next week and a bad value among good rows, behind a BOM.
    "transactions_200607.csv": b"\xef\xbb\xbf" + csv_bytes(
        [*lines("200607", 5), line("200608"), *lines("200607", 3, 5), line("200607", SPEND="0.9x"), *lines("200607", 2, 8)]
    ),
    # The slow path: a quoted field with a comma, CRLF, a blank line, a ragged line, a stray quote.
    "transactions_200608.csv": csv_bytes(
        [*lines("200608", 3), line("200608", PROD_CODE='"PRD0,1"'), "", "1,2,3", line("200608", PROD_CODE='"PRD1'),
         line("200607"), *lines("200608", 2, 3)],
        newline="\r\n",
    ),
    # The SEG spelling with its codes, values padded with spaces, an extra column, a NUL deep in.
    "transactions_200609.csv": csv_bytes(
        [*(f"{row},x" for row in lines("200609", 40)), line("200609", SHOP_HOUR=" 19 ").replace("MM,OT", "CT,BU") + ",y",
         line("200609", STORE_CODE="ST\x00RE1") + ",z", line("200609", SHOP_HOUR="25") + ",w"],
        header=[*SEG_HEADER, "NOTE"],
    ),
    "transactions_200610.csv": csv_bytes([]),  # a header and no rows
    # Bytes that are not UTF-8 on one line; every other row fine.
    "transactions_200611.csv": csv_bytes(lines("200611", 3)) + line("200611").replace("STORE", "ST\xffRE").encode("latin-1") + b"\n",
}


def test_a_group_gives_each_file_what_it_gives_on_its_own():
    grouped = check_files([file_fields(name, data) for name, data in FILES.items()])
    for (name, data), result in zip(FILES.items(), grouped, strict=True):
        alone = parse_weekly_file(name, data)
        assert_frame_equal(result.kept, alone.kept, check_row_order=True, check_dtypes=True)
        assert_frame_equal(result.quarantined, alone.quarantined, check_row_order=True, check_dtypes=True)
        assert (result.week, result.data_lines, result.blank_lines, result.column_spelling, result.ignored_columns) == (
            alone.week, alone.data_lines, alone.blank_lines, alone.column_spelling, alone.ignored_columns)
        assert result.kept.height + result.quarantined.height == result.data_lines
        assert result.kept["source_file"].unique().to_list() in ([name], [])
    reasons = {r.week: dict(zip(r.quarantined["source_line"], r.quarantined["reason"], strict=True)) for r in grouped}
    # Each file's rows are held to that file's week, not the group's first one.
    assert reasons[200607] == {7: "SHOP_WEEK differs from the file's week 200607", 11: "SPEND is not a number"}
    assert reasons[200608][9] == "SHOP_WEEK differs from the file's week 200608"
    assert "unbalanced quote" in reasons[200608][8] and reasons[200608][7] == "has 3 fields, expected 22"
    assert "NUL byte" in reasons[200609][43] and reasons[200609][44] == "SHOP_HOUR outside 0..23"
    assert list(reasons[200611]) == [5] and "undecodable" in reasons[200611][5]
    assert [r.kept.height for r in grouped] == [10, 6, 41, 0, 3]
    assert grouped[1].kept.filter(pl.col("prod_code") == "PRD0,1").height == 1
    assert grouped[2].kept["cust_price_sensitivity"].to_list()[-1] == "MM" and grouped[2].kept["shop_hour"].dtype == pl.Int8


def test_a_file_that_breaks_the_group_check_is_rejected_alone(tmp_path, monkeypatch):
    lake = LocalLake(tmp_path / "lake")
    weeks = ["200607", "200608", "200609"]
    for week in weeks:
        lake.write_bytes(f"landing/transactions_{week}.csv", csv_bytes([*lines(week, 20), line(week, QUANTITY="0")]))
    real, calls = load.check_files, []

    def flaky(files):
        calls.append([f.week for f in files])
        if any(f.week == 200608 for f in files):
            raise RuntimeError("simulated")
        return real(files)

    monkeypatch.setattr(load, "check_files", flaky)
    seen = []
    report = load.load_weeks(lake, landing.landed_files(lake), run_id="test", on_week=lambda week, _: seen.append(week))
    assert calls[0] == [200607, 200608, 200609]  # one check for the group, then file by file
    assert [r.week for r in report.rejected] == ["200608"] and "RuntimeError: simulated" in report.rejected[0].reason
    assert sorted(report.results) == seen == ["200607", "200609"]
    assert all((r.kept, r.quarantined, r.data_lines) == (20, 1, 21) for r in report.results.values())
    raw = lake.scan(tables.RAW).group_by("shop_week").len().collect()
    assert dict(raw.iter_rows()) == {200607: 20, 200609: 20}
    assert lake.count_rows(tables.QUARANTINE) == 2
    status = {week: v["status"] for week, v in landing.ingested_versions(lake).items()}
    assert status == {"200607": "ingested", "200608": "rejected", "200609": "ingested"}


def test_the_rules_run_once_per_commit_group(tmp_path, monkeypatch):
    lake = LocalLake(tmp_path / "lake")
    for week in ("200607", "200608", "200609", "200610"):
        lake.write_bytes(f"landing/transactions_{week}.csv", csv_bytes(lines(week, 30)))
    real, calls = load.check_files, []
    monkeypatch.setattr(load, "check_files", lambda files: calls.append(len(files)) or real(files))
    report = load.load_weeks(lake, landing.landed_files(lake), run_id="test", rows_per_commit=60)
    assert calls == [2, 2] and report.rows_kept == lake.count_rows(tables.RAW) == 120
