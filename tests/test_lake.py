"""Lake I/O: partitions are replaced whole, and readers skip writes in flight."""

import polars as pl

from retail_assets.lake import LakePaths, count_rows, parquet_files, replace_partition


def test_a_lake_under_a_dot_folder_is_readable(tmp_path):
    """The default lake is ./.retail: its own dot must not hide its files."""
    paths = LakePaths(tmp_path / ".retail")
    replace_partition(pl.DataFrame({"a": [1, 2]}), paths.raw("200607"))
    assert count_rows(paths.raw()) == 2


def test_replacing_a_partition_never_appends(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    replace_partition(pl.DataFrame({"a": [1, 2, 3]}), paths.raw("200607"))
    replace_partition(pl.DataFrame({"a": [4]}), paths.raw("200607"), extra_files={"_SOURCE.json": {"rows_read": 1}})
    assert count_rows(paths.raw()) == 1
    assert (paths.raw("200607") / "_SOURCE.json").exists()


def test_staging_folders_of_writes_in_flight_are_not_read(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    replace_partition(pl.DataFrame({"a": [1]}), paths.raw("200607"))
    staging = paths.raw() / ".shop_week=200608.abc.tmp"
    staging.mkdir()
    pl.DataFrame({"a": [9, 9]}).write_parquet(staging / "part-0.parquet")
    assert [p.parent.name for p in parquet_files(paths.raw())] == ["shop_week=200607"]
