"""Each way a retailer's data used to go missing, tried on purpose; no line may be lost silently.

Every case checks the reconciliation the lake relies on: kept + quarantined = the file's data
lines, counted from its bytes without the CSV parser.
"""

from __future__ import annotations

import csv

import dagster as dg
import polars as pl
import pytest
from tests.helpers.landed_files import GOOD

from retail_assets.ingest import contract, landing, watch
from retail_assets.ingest.load import load_weeks
from retail_assets.ingest.reader import count_lines, parse_weekly_file
from retail_assets.lake import tables
from retail_model.lake import LocalLake

HEADER = ",".join(contract.COLUMNS)


def line(**changes: str) -> str:
    return ",".join({**GOOD, **changes}[c] for c in contract.COLUMNS)


def basket_lines(n: int, start: int = 0) -> list[str]:
    return [line(BASKET_ID=f"99410010{i:07d}", PROD_CODE=f"PRD{i % 900:07d}") for i in range(start, start + n)]


def file_bytes(lines: list[str], newline: str = "\n") -> bytes:
    return (newline.join([HEADER, *lines]) + newline).encode()


STRAY_QUOTE = line(PROD_CODE='"PRD0900033')
FAULTS = {
    # A field opens a quote and never closes it, mid-file, with enough lines after it that a
    # reader letting the quote run on would blow csv's 131,072-character field limit.
    "stray quote mid-file": (file_bytes([*basket_lines(10), STRAY_QUOTE, *basket_lines(5000, 10)]), {12: "unbalanced quote"}),
    "ragged lines": (file_bytes([*basket_lines(3), "1,2,3", line() + ",extra", *basket_lines(2, 3)]),
                     {5: "has 3 fields, expected 22", 6: "has 23 fields, expected 22"}),
    "undecodable bytes": (file_bytes(basket_lines(3)) + line(STORE_CODE="STORE00001").replace("STORE", "ST\udcffRE").encode(
        "utf-8", errors="surrogateescape") + b"\n", {5: "undecodable bytes"}),
    "quoted fields that are fine": (file_bytes([line(BASKET_TYPE='"Full Shop"'), *basket_lines(2)]), {}),
    "blank lines and CRLF": (file_bytes([*basket_lines(2), "", "   ", *basket_lines(2, 2)], newline="\r\n"), {}),
    # A CR after the file's last newline is a blank line, not a record the parser lost.
    "a stray CR at the end": (file_bytes(basket_lines(2)) + b"\r", {}),
    # Lines of whitespace that is not a space or a tab: not blank lines, so not records either.
    **{f"a line of only {name}": (file_bytes([*basket_lines(2), text, *basket_lines(2, 2)]), {4: "only whitespace"})
       for name, text in {"NBSP": "\u00a0", "NEL": "\u0085", "U+3000": "\u3000", "form feed": "\x0c",
                          "mixed": " \u00a0\t\u3000 "}.items()},
    # A NUL byte past the first 4,096 bytes (where a binary file would be caught) is not text.
    "a NUL byte deep in the file": (file_bytes([*basket_lines(60), line(STORE_CODE="STO\x00RE1"), *basket_lines(2, 60)]),
                                    {62: "NUL byte"}),
    "bad values on otherwise good lines": (file_bytes([line(SPEND="1,5".replace(",", ".") + "x"), *basket_lines(2)]),
                                           {2: "SPEND is not a number"}),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_line_is_kept_or_quarantined_with_its_reason(fault):
    data, expected = FAULTS[fault]
    result = parse_weekly_file("transactions_200607.csv", data)
    counted = count_lines(data)
    assert result.kept.height + result.quarantined.height == counted.data_lines
    reasons = dict(zip(result.quarantined["source_line"], result.quarantined["reason"], strict=True))
    assert set(reasons) == set(expected)
    for number, reason in expected.items():
        assert reason in reasons[number]
        assert result.quarantined.filter(pl.col("source_line") == number)["line"][0]  # the text as it landed


def test_the_stray_quote_costs_only_its_own_line():
    data, _ = FAULTS["stray quote mid-file"]
    assert len(data) > csv.field_size_limit()
    result = parse_weekly_file("transactions_200607.csv", data)
    assert result.kept.height == 5010 and result.quarantined.height == 1


def test_a_nul_byte_never_reaches_a_kept_value():
    data, _ = FAULTS["a NUL byte deep in the file"]
    assert data.index(b"\x00") > 4096
    kept = parse_weekly_file("transactions_200607.csv", data).kept
    assert not kept.select(pl.any_horizontal(pl.col(pl.String).str.contains("\x00", literal=True))).to_series().any()


def test_undecodable_bytes_never_reach_a_kept_row():
    data, _ = FAULTS["undecodable bytes"]
    kept = parse_weekly_file("transactions_200607.csv", data).kept
    assert not kept.select(pl.any_horizontal(pl.col(pl.String).str.contains("\ufffd|\\\\x"))).to_series().any()


def test_a_basket_whose_lines_disagree_goes_to_quarantine_whole(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    split = [line(PROD_CODE="PRD1", STORE_REGION="E01"), line(PROD_CODE="PRD2", STORE_REGION="W03")]
    lake.write_bytes("landing/transactions_200607.csv", file_bytes([*basket_lines(4), *split]))
    load_weeks(lake, landing.landed_files(lake), run_id="test")
    wanted = [(region, kind) for region in ("E01", "E02", "W03") for kind in contract.BASKET_TYPES]
    rebuild = tables.rebuild_silver(lake, wanted, complete=True)
    assert (rebuild.quarantined_baskets, rebuild.quarantined_lines) == (1, 2)
    set_aside = lake.scan(tables.BASKET_QUARANTINE).collect()
    assert set_aside["basket_id"].unique().to_list() == [GOOD["BASKET_ID"]]
    assert lake.count_rows(tables.SILVER) + set_aside.height == lake.count_rows(tables.RAW) == 6
    assert GOOD["BASKET_ID"] not in lake.scan(tables.SILVER).collect()["basket_id"].to_list()


def test_weeks_landing_during_a_rebuild_are_not_left_out(tmp_path, monkeypatch, sample_dir):
    """A rebuild reads raw at version v; two weeks land meanwhile; the rebuild then commits.
    Timestamps would say gold is newer than raw; versions say raw moved on."""
    from retail_assets.defs.lake.automation import raw_updated_sensor

    lake = LocalLake(tmp_path / "lake")
    files = sorted(sample_dir.glob("transactions_*.csv"))
    for path in files:
        lake.upload_file(path, f"landing/{path.name}")
    landed = landing.landed_files(lake)
    load_weeks(lake, landed[:2], run_id="first")
    before = lake.snapshot(tables.RAW)  # what the rebuild read
    load_weeks(lake, landed[2:4], run_id="meanwhile")
    monkeypatch.setattr(tables, "read_upstream", lambda lake, table: before if table == tables.RAW else lake.snapshot(table))
    regions = lake.scan(tables.RAW).select("store_region").unique().collect()["store_region"].to_list()
    wanted = [(r, t) for r in regions for t in contract.BASKET_TYPES]
    tables.rebuild_silver(lake, wanted, complete=True)
    monkeypatch.undo()
    tables.rebuild_region_partitions(lake, tables.SILVER, tables.GOLD, lambda frame: frame, wanted, complete=True)

    freshness = tables.lake_freshness(lake)
    assert freshness.stale and freshness.silver_built_from_raw == before.version < freshness.raw_version
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("store_regions", regions)
        request = raw_updated_sensor(dg.build_sensor_context(instance=instance, resources={"lake": lake}))
        assert isinstance(request, dg.RunRequest)
        assert request.tags["retail/rebuild-for"] == f"raw-v{freshness.raw_version}.silver-v{freshness.silver_version}"


def test_a_rejected_redelivery_keeps_the_weeks_good_data(tmp_path, sample_dir):
    lake = LocalLake(tmp_path / "lake")
    path = sorted(sample_dir.glob("transactions_*.csv"))[0]
    lake.upload_file(path, f"landing/{path.name}")
    load_weeks(lake, landing.landed_files(lake), run_id="good")
    rows = lake.count_rows(tables.RAW)
    lake.write_bytes(f"landing/{path.name}", b"\x00\x00 a corrupt re-delivery")
    report = load_weeks(lake, landing.landed_files(lake), run_id="bad")
    assert [r.week for r in report.rejected] == [path.stem[-6:]] and "binary content" in report.rejected[0].reason
    assert lake.count_rows(tables.RAW) == rows
    assert landing.ingested_versions(lake)[path.stem[-6:]]["status"] == "rejected"
    assert watch.pending_files(lake) == []  # not retried until the file changes
    assert lake.read_json(f"landing/rejected/{path.name}.error.json")["reason"] == report.rejected[0].reason
    # The check the alerts forward fails, and names the week for on-call.
    from retail_assets.defs.ingest.checks import landed_files_readable

    result = landed_files_readable(lake=lake)
    assert not result.passed and f"rejected week(s) {path.stem[-6:]}" in result.description


def test_an_unexpected_error_rejects_only_that_file(tmp_path, sample_dir, monkeypatch):
    import retail_assets.ingest.load as load

    lake = LocalLake(tmp_path / "lake")
    for path in sorted(sample_dir.glob("transactions_*.csv"))[:3]:
        lake.upload_file(path, f"landing/{path.name}")
    real = load.file_fields

    def flaky(name, data):
        if name.endswith("200608.csv"):
            raise MemoryError("simulated")
        return real(name, data)

    monkeypatch.setattr(load, "file_fields", flaky)
    report = load.load_weeks(lake, landing.landed_files(lake), run_id="test")
    assert sorted(report.results) == ["200607", "200609"]
    assert [r.week for r in report.rejected] == ["200608"] and "MemoryError: simulated" in report.rejected[0].reason


def test_one_run_for_n_weeks_equals_n_runs(tmp_path, sample_dir, monkeypatch):
    """The CLI's bulk ingest (one single-run backfill) and the sensor's per-week runs build the same lake."""
    from retail_assets.definitions import defs
    from retail_assets.defs.asset_keys import RAW
    from retail_assets.defs.partitions import week_range_tags

    weeks = [p.stem[-6:] for p in sorted(sample_dir.glob("transactions_*.csv"))]
    lakes = {}
    for mode in ("bulk", "per_week"):
        lake = LocalLake(tmp_path / mode)
        for path in sorted(sample_dir.glob("transactions_*.csv")):
            lake.upload_file(path, f"landing/{path.name}")
        monkeypatch.setenv("RETAIL_LAKE", lake.uri)
        job = defs().resolve_implicit_global_asset_job_def()
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("shop_weeks", weeks)
            if mode == "bulk":
                runs = [job.execute_in_process(instance=instance, asset_selection=[RAW], tags=week_range_tags(weeks[0], weeks[-1]))]
            else:
                runs = [job.execute_in_process(instance=instance, asset_selection=[RAW], partition_key=w) for w in weeks]
            assert all(run.success for run in runs) and len(runs) == (1 if mode == "bulk" else len(weeks))
            assert set(instance.get_materialized_partitions(RAW)) == set(weeks)
        lakes[mode] = lake

    def content(lake: LocalLake, table: str, drop: tuple[str, ...] = ()) -> pl.DataFrame:
        frame = lake.scan(table).collect().drop(*drop)
        return frame.sort(frame.columns)

    for table, drop in {tables.RAW: (), tables.QUARANTINE: (), tables.INGEST_LOG: ("run_id", "logged_at", "stamp")}.items():
        bulk, per_week = content(lakes["bulk"], table, drop), content(lakes["per_week"], table, drop)
        assert bulk.height > 0 or table == tables.QUARANTINE
        assert bulk.equals(per_week), table


def _data_half(lake_root, landing_dir, instance, monkeypatch):
    from rich.console import Console
    from rich.progress import Progress

    from retail_assets.pipeline import run_pipeline

    monkeypatch.setenv("RETAIL_LAKE", str(lake_root))
    return run_pipeline(landing_dir, instance, Progress(console=Console(quiet=True)), through_model=False)


def test_a_week_still_rejected_fails_every_rerun_by_name(tmp_path, sample_dir, monkeypatch):
    """`retail-mlops materialize` exits 1 while summary.weeks_rejected names a week; a re-run that
    has nothing new to ingest must still name the week that is missing from the lake."""
    source = tmp_path / "landing"
    source.mkdir()
    first, second = sorted(sample_dir.glob("transactions_*.csv"))[:2]
    (source / first.name).write_bytes(first.read_bytes())
    (source / second.name).write_bytes(b"not,a,weekly,extract\n1,2,3,4\n")
    with dg.instance_for_test() as instance:
        runs = [_data_half(tmp_path / "lake", source, instance, monkeypatch) for _ in range(2)]
    week = second.stem[-6:]
    assert [run.weeks_rejected for run in runs] == [[week], [week]]
    assert runs[1].weeks_ingested == []  # nothing was re-read: the week is named from the ingest log


def test_a_misnamed_file_is_rejected_with_a_reason_not_skipped(tmp_path, sample_dir, monkeypatch):
    from retail_assets.defs.ingest.checks import landed_file_names_follow_contract

    source = tmp_path / "landing"
    source.mkdir()
    files = sorted(sample_dir.glob("transactions_*.csv"))
    (source / files[0].name).write_bytes(files[0].read_bytes())
    (source / "transactions_200608.CSV").write_bytes(files[1].read_bytes())
    (source / "transactions_2006-09.csv").write_bytes(files[2].read_bytes())
    (source / "notes.txt").write_text("not meant as data")
    with dg.instance_for_test() as instance:
        summary = _data_half(tmp_path / "lake", source, instance, monkeypatch)
    assert summary.weeks_ingested == [files[0].stem[-6:]]
    assert len(summary.files_misnamed) == 2
    lake = LocalLake(tmp_path / "lake")
    for name in ("transactions_200608.CSV", "transactions_2006-09.csv"):
        error = lake.read_json(f"landing/rejected/{name}.error.json")
        assert "transactions_YYYYWW.csv" in error["reason"] and lake.exists(f"landing/rejected/{name}")
    assert "rename it transactions_200609.csv" in lake.read_json("landing/rejected/transactions_2006-09.csv.error.json")["reason"]
    assert not lake.exists("landing/notes.txt")  # only files that look meant as weekly extracts are landed
    result = landed_file_names_follow_contract(lake=lake)
    assert not result.passed and "transactions_200608.CSV" in result.description
    lake.delete("landing/transactions_200608.CSV")
    lake.delete("landing/transactions_2006-09.csv")
    assert landed_file_names_follow_contract(lake=lake).passed


def test_the_landing_sensor_rejects_a_misnamed_file_once_and_logs_it(tmp_path, capfd):
    from retail_assets.defs.ingest.sensors import landing_sensor

    lake = LocalLake(tmp_path / "lake")
    lake.write_bytes("landing/transactions_200607.CSV", file_bytes(basket_lines(3)))
    with dg.instance_for_test() as instance:
        for _ in range(2):
            result = landing_sensor(dg.build_sensor_context(instance=instance, resources={"lake": lake}))
            assert "1 misnamed file(s) not ingested: transactions_200607.CSV" in result.skip_reason.skip_message
    assert capfd.readouterr().err.count("WARNING - transactions_200607.CSV: not ingested") == 1  # once, not every tick
    assert lake.read_json("landing/rejected/transactions_200607.CSV.error.json")["reason"].startswith("transactions_200607.CSV")


def _lines_by_hand(data: bytes) -> tuple[int, int]:
    """(data lines, blank lines) the plain way: every line after the header, blank when it holds only spaces, tabs or a CR."""
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")[1:]
    if lines and lines[-1] == b"":
        lines.pop()
    blank = sum(1 for text in lines if not text.strip(b" \t\r"))
    return len(lines) - blank, blank


@pytest.mark.parametrize("data", [
    b"", b"H", b"H\n", b"H\na", b"H\na\n", b"H\n\n", b"\n\nH", b"H\na\n\nb", b"H\r\na\r\n\r\nb\r\n", b"H\r\n\r\n",
    b"H\na\n\r\nb", b"H\na\nr\nb", b"H\n\r", b"H\na\n\r", b"\xef\xbb\xbfH\na\n", b"H\na\n \t\nb\n", b"H\n a\n", b"H\na \n",
    b"H\n\x0c\n", b"H\n\xc2\xa0\nx", *(file_bytes(basket_lines(n), newline) for n in (0, 1, 50) for newline in ("\n", "\r\n")),
])
def test_count_lines_agrees_with_counting_by_hand(data):
    counted = count_lines(data)
    assert (counted.data_lines, counted.blank_lines) == _lines_by_hand(data)
