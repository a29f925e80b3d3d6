"""Every `Lake` operation, once against a temp directory and once against moto's S3 over HTTP.

One suite, parametrised over the two backends: what passes here passes for both, which is the
point of the interface. S3 is moto's server on 127.0.0.1 (see conftest), not patched objects.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import polars as pl
import pytest

from retail_model.lake import Lake, LakeError, LocalLake, S3Lake, open_lake


@pytest.fixture(params=["directory", "s3"])
def lake(request, tmp_path) -> Lake:
    if request.param == "directory":
        return LocalLake(tmp_path / ".retail")  # named like the default lake: a dot-folder
    aws = request.getfixturevalue("aws")
    return S3Lake(f"s3://{aws.bucket}/team/lake", aws.settings())


def weeks(*values: int, generation: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {"shop_week": list(values), "row": list(range(len(values))), "generation": [generation] * len(values)},
        schema={"shop_week": pl.Int32, "row": pl.Int64, "generation": pl.Int64},
    )


# -- objects ---------------------------------------------------------------------------------


def test_objects_round_trip(lake):
    assert lake.stat("a/b.txt") is None and not lake.exists("a/b.txt")
    lake.write_bytes("a/b.txt", b"hello")
    lake.write_json("a/c/d.json", {"x": 1})
    assert lake.read_bytes("a/b.txt") == b"hello"
    assert lake.read_json("a/c/d.json") == {"x": 1}
    assert lake.read_json("a/missing.json") is None
    assert [s.key for s in lake.list_objects("a")] == ["a/b.txt", "a/c/d.json"]
    assert lake.list_objects("nothing-here") == []
    lake.copy("a/b.txt", "z/b.txt")
    assert lake.read_bytes("z/b.txt") == b"hello"
    lake.delete("a/b.txt")
    assert not lake.exists("a/b.txt")
    with pytest.raises(LakeError):
        lake.read_bytes("a/b.txt")


def test_a_rewrite_changes_size_or_stamp_and_fingerprint(lake):
    lake.write_bytes("landing/f.csv", b"one")
    before = lake.stat("landing/f.csv")
    assert before.size == 3 and before.name == "f.csv"
    fingerprint = lake.fingerprint(before)
    assert fingerprint == lake.fingerprint(lake.stat("landing/f.csv"))  # stable while unchanged
    lake.write_bytes("landing/f.csv", b"two")
    after = lake.stat("landing/f.csv")
    assert (after.size, after.stamp) != (before.size, before.stamp)
    assert lake.fingerprint(after) != fingerprint


def test_files_and_directories_travel_both_ways(lake, tmp_path):
    source = tmp_path / "model"
    (source / "sub").mkdir(parents=True)
    (source / "model.joblib").write_bytes(b"\x00binary")
    (source / "sub" / "metrics.json").write_text("{}")
    keys = lake.upload_directory(source, "models/v1")
    assert keys == ["models/v1/model.joblib", "models/v1/sub/metrics.json"]
    assert lake.holds_copy_of(source / "model.joblib", "models/v1/model.joblib")
    assert not lake.holds_copy_of(source / "sub" / "metrics.json", "models/v1/model.joblib")
    with lake.local_directory("models/v1") as local:
        assert (local / "model.joblib").read_bytes() == b"\x00binary"
        assert (local / "sub" / "metrics.json").read_text() == "{}"
    lake.download_file("models/v1/model.joblib", tmp_path / "copy" / "m")
    assert (tmp_path / "copy" / "m").read_bytes() == b"\x00binary"


def test_a_landed_copy_is_replaced_when_the_source_changes(lake, tmp_path):
    """What `retail-mlops materialize --landing DIR` relies on to skip unchanged files: a changed
    file (same size, new content) is not taken for the landed copy; an untouched one is."""
    source = tmp_path / "src" / "transactions_200607.csv"
    source.parent.mkdir()
    source.write_bytes(b"header\nline one\n")
    lake.upload_file(source, "landing/transactions_200607.csv")
    assert lake.holds_copy_of(source, "landing/transactions_200607.csv")
    stamp = source.stat().st_mtime_ns
    source.write_bytes(b"header\nline two\n")  # re-delivered: same size, other bytes
    os.utime(source, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))
    assert not lake.holds_copy_of(source, "landing/transactions_200607.csv")
    source.write_bytes(b"header\nline one\n")  # back to the landed bytes, with a new mtime: hashed, equal
    assert lake.holds_copy_of(source, "landing/transactions_200607.csv")
    source.write_bytes(b"header\nline one, longer\n")
    assert not lake.holds_copy_of(source, "landing/transactions_200607.csv")


def test_uris_name_the_backend(lake):
    assert lake.uri_of("raw") == lake.table_uri("raw")
    assert lake.uri_of("raw").startswith("s3://" if isinstance(lake, S3Lake) else "/")
    assert type(open_lake(lake.uri)) is type(lake)


# -- Delta tables ------------------------------------------------------------------------------


def test_a_table_that_was_never_written(lake):
    assert lake.table_version("raw") is None
    assert lake.scan("raw") is None and lake.snapshot("raw") is None
    assert lake.count_rows("raw") == 0


def test_replacing_partitions_is_one_commit_and_never_appends(lake):
    v0 = lake.replace_partitions("raw", weeks(200607, 200607), ["shop_week"], [{"shop_week": 200607}])
    v1 = lake.replace_partitions("raw", weeks(200608), ["shop_week"], [{"shop_week": 200608}])
    v2 = lake.replace_partitions("raw", weeks(200607, generation=1), ["shop_week"], [{"shop_week": 200607}])
    assert (v0, v1, v2) == (0, 1, 2) and lake.table_version("raw") == 2
    rows = lake.scan("raw").collect().sort("shop_week")
    assert rows.select("shop_week", "generation").rows() == [(200607, 1), (200608, 0)]
    # A partition replaced by no rows is empty, not stale.
    lake.replace_partitions("raw", weeks().clear(), ["shop_week"], [{"shop_week": 200608}])
    assert lake.scan("raw").collect()["shop_week"].to_list() == [200607]


def test_a_writer_cannot_touch_partitions_it_did_not_name(lake):
    lake.replace_partitions("raw", weeks(200607), ["shop_week"], [{"shop_week": 200607}])
    with pytest.raises(Exception, match="failed validation"):
        lake.replace_partitions("raw", weeks(200608), ["shop_week"], [{"shop_week": 200607}])
    assert lake.scan("raw").collect()["shop_week"].to_list() == [200607]


def test_text_partition_values_with_spaces_and_quotes(lake):
    frame = pl.DataFrame({"store_region": ["E01", "E01"], "basket_type": ["Small Shop", "O'Top Up"], "n": [1, 2]})
    wanted = [{"store_region": "E01", "basket_type": "Small Shop"}, {"store_region": "E01", "basket_type": "O'Top Up"}]
    lake.replace_partitions("gold", frame, ["store_region", "basket_type"], wanted)
    lake.replace_partitions("gold", frame.head(1).with_columns(n=pl.lit(9, pl.Int64)), ["store_region", "basket_type"], wanted)
    assert lake.scan("gold").collect().select("store_region", "basket_type", "n").rows() == [("E01", "Small Shop", 9)]


def test_time_travel_and_lineage(lake):
    first = lake.overwrite_table("features", weeks(200607, 200608), lineage={"gold": 4})
    second = lake.overwrite_table("features", weeks(200609).with_columns(extra=pl.lit("new column")))
    assert lake.scan("features", version=first).collect()["shop_week"].to_list() == [200607, 200608]
    assert "extra" not in lake.scan("features", version=first).collect().columns  # the schema travels too
    assert lake.scan("features").collect()["shop_week"].to_list() == [200609]
    assert lake.lineage("features", first) == {"gold": 4}
    assert lake.lineage("features", second) == {}
    snapshot = lake.snapshot("features", version=first)
    assert snapshot.version == first and snapshot.frame.collect().height == 2


def test_append(lake):
    lake.append("predictions", weeks(200607), partition_by=["shop_week"])
    lake.append("predictions", weeks(200607, 200608), partition_by=["shop_week"])
    assert lake.count_rows("predictions") == 3


def test_replacing_rows_where_a_column_matches(lake):
    """A new week is added, a re-delivered week replaces exactly its rows, other weeks stay: one commit each."""
    regions = ["store_region"]

    def rows(week: int, region_rows: dict[str, int], generation: int) -> pl.DataFrame:
        regions_of = [region for region, count in region_rows.items() for _ in range(count)]
        return weeks(*[week] * len(regions_of), generation=generation).with_columns(store_region=pl.Series(regions_of))

    lake.overwrite_table("silver", pl.concat([rows(200607, {"E01": 2, "N02": 1}, 0), rows(200608, {"E01": 1}, 0)]), regions)
    added = lake.replace_where("silver", rows(200609, {"E01": 1, "S03": 2}, 1), regions, "shop_week", [200609])
    assert added == 1
    replaced = lake.replace_where("silver", rows(200607, {"N02": 1}, 2), regions, "shop_week", [200607])
    assert replaced == 2
    found = lake.scan("silver").collect().group_by("shop_week", "store_region", "generation").len().sort("shop_week", "store_region")
    assert found.rows() == [(200607, "N02", 2, 1), (200608, "E01", 0, 1), (200609, "E01", 1, 1), (200609, "S03", 1, 2)]
    assert lake.count_rows("silver") == 5 and lake.count_rows("silver", version=0) == 4


def test_a_new_weeks_replace_refuses_rows_another_writer_added_meanwhile(tmp_path):
    """A replace of a week no file holds is an append; if another writer committed rows of that
    week between the read and the commit, both writers' rows would be there: it says so, and
    the step's re-run (now a real replace) leaves one copy."""
    other = LocalLake(tmp_path / "lake")

    class RacedLake(LocalLake):
        def _write(self, table, frame, *args, **kwargs):
            if kwargs.get("mode") == "append" and not getattr(self, "raced", False):
                self.raced = True  # the other writer commits the same week first
                other.replace_where(table, weeks(200609, generation=9), [], "shop_week", [200609])
            return super()._write(table, frame, *args, **kwargs)

    lake = RacedLake(tmp_path / "lake")
    lake.overwrite_table("gold", weeks(200607, 200608))
    with pytest.raises(LakeError, match="another writer added rows"):
        lake.replace_where("gold", weeks(200609, 200609, generation=1), [], "shop_week", [200609])
    lake.replace_where("gold", weeks(200609, 200609, generation=1), [], "shop_week", [200609])
    assert lake.scan("gold").collect().filter(pl.col("shop_week") == 200609)["generation"].to_list() == [1, 1]


def test_a_lake_sees_commits_made_by_another_process(lake):
    """Table handles are reused between calls: they must still follow commits made elsewhere."""
    elsewhere = open_lake(lake.uri, getattr(lake, "aws", None))
    lake.overwrite_table("raw", weeks(200607))
    assert lake.table_version("raw") == 0 and lake.count_rows("raw") == 1
    elsewhere.append("raw", weeks(200608, 200609))
    assert lake.table_version("raw") == 1 and lake.count_rows("raw") == 3
    assert sorted(lake.scan("raw").collect()["shop_week"].to_list()) == [200607, 200608, 200609]
    assert lake.scan("raw", version=0).collect()["shop_week"].to_list() == [200607]


def test_concurrent_writers_to_disjoint_partitions(lake):
    """Weekly ingest runs overlap: each replaces its own week, none is lost."""

    def ingest(week: int) -> None:
        for generation in range(3):
            lake.replace_partitions("raw", weeks(week, week, generation=generation), ["shop_week"], [{"shop_week": week}])

    lake.replace_partitions("raw", weeks(200601), ["shop_week"], [{"shop_week": 200601}])
    threads = [threading.Thread(target=ingest, args=(week,)) for week in (200607, 200608, 200609)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = lake.scan("raw").collect()
    assert sorted(rows.group_by("shop_week").len().rows()) == [(200601, 1), (200607, 2), (200608, 2), (200609, 2)]
    assert set(rows.filter(pl.col("shop_week") != 200601)["generation"]) == {2}


def test_readers_never_see_a_mix_of_old_and_new_rows_or_a_missing_partition(lake):
    """A rebuild replaces every partition in one commit while readers keep reading.

    Each rebuild writes all partitions with one generation number; a reader that ever saw two
    generations at once, or fewer partitions than there are, caught a half-applied rewrite.
    """
    keys = [{"store_region": r, "basket_type": t} for r in ("E01", "N02", "S03") for t in ("Small Shop", "Top Up")]

    def generation_frame(generation: int) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "store_region": [k["store_region"] for k in keys for _ in range(3)],
                "basket_type": [k["basket_type"] for k in keys for _ in range(3)],
                "generation": [generation] * (3 * len(keys)),
            }
        )

    lake.replace_partitions("silver", generation_frame(0), ["store_region", "basket_type"], keys)
    done = threading.Event()
    seen: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not done.is_set():
                frame = lake.scan("silver").collect()
                partitions = frame.select("store_region", "basket_type").unique().height
                seen.append((frame.height, partitions, frame["generation"].n_unique()))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for generation in range(1, 8):
            lake.replace_partitions("silver", generation_frame(generation), ["store_region", "basket_type"], keys)
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert not errors, errors
    assert len(seen) >= 2
    assert set(seen) == {(18, 6, 1)}
    assert lake.scan("silver").collect()["generation"].unique().to_list() == [7]


def test_a_local_lake_ignores_its_own_staging_files(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    lake.write_bytes("landing/a.csv", b"x")
    (Path(lake.uri) / "landing" / ".b.csv.tmp-123").write_bytes(b"half")
    assert [s.key for s in lake.list_objects("landing")] == ["landing/a.csv"]


def test_s3_addresses_are_checked():
    with pytest.raises(LakeError, match="s3://bucket/prefix"):
        S3Lake("s3:///no-bucket")
