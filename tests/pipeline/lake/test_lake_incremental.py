"""A landed week costs a week: silver, gold and features replace only the weeks raw rewrote, and
end up exactly as a rebuild from scratch would leave them."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from retail_assets.ingest import contract, landing
from retail_assets.ingest.load import load_weeks
from retail_assets.lake import invariants, tables
from retail_assets.sample_data import generate_sample_data
from tests.helpers.lake_hops import build, land
from retail_model.lake import LocalLake

DOWNSTREAM = (tables.SILVER, tables.GOLD, tables.FEATURES)


@pytest.fixture(scope="module")
def weeks_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("weeks")
    generate_sample_data(out, weeks=5, baskets_per_week=200, seed=3)
    return out


def content(lake: LocalLake, table: str) -> pl.DataFrame:
    frame = lake.scan(table).collect()
    if "feature_names" in frame.columns:  # a basket's product names come in no particular order
        frame = frame.with_columns(pl.col("feature_names").list.sort(), pl.col("feature_values").list.sort())
    frame = frame.select(sorted(frame.columns))
    return frame.sort([c for c in frame.columns if not isinstance(frame.schema[c], pl.List | pl.Struct)])


def assert_same_as_from_scratch(lake: LocalLake, tmp_path: Path) -> None:
    scratch = LocalLake(tmp_path / "scratch")
    for stored in landing.landed_files(lake):
        scratch.write_bytes(stored.key, lake.read_bytes(stored.key))
    load_weeks(scratch, landing.landed_files(scratch), run_id="scratch")
    assert {r.weeks for r in build(scratch).values()} == {None}  # a new lake is built whole
    for table in (*DOWNSTREAM, tables.BASKET_QUARANTINE):
        assert content(lake, table).equals(content(scratch, table)), table


def weeks_of(lake: LocalLake, table: str) -> set[int]:
    return set(lake.scan(table).select(pl.col("shop_week").unique()).collect()["shop_week"].to_list())


def files_removed_by_latest_commit(lake: LocalLake, table: str) -> int:
    return DeltaTable(lake.table_uri(table)).history(1)[0].get("operationMetrics", {}).get("num_removed_files", 0)


def test_a_new_week_rewrites_only_that_week(tmp_path, weeks_dir):
    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = LocalLake(tmp_path / "lake")
    land(lake, *files[:4])
    assert {r.weeks for r in build(lake).values()} == {None}
    versions = {table: lake.table_version(table) for table in DOWNSTREAM}

    land(lake, files[4])
    new_week = int(files[4].stem[-6:])
    rebuilds = build(lake)
    for table, rebuild in rebuilds.items():
        assert rebuild.weeks == [new_week], table
        assert rebuild.version == versions[table] + 1  # one commit per hop
        assert files_removed_by_latest_commit(lake, table) == 0  # the old weeks' files were not touched
        assert rebuild.table_rows == lake.count_rows(table) > rebuild.rows
    assert_same_as_from_scratch(lake, tmp_path)

    # Nothing new: every hop commits nothing but the versions it read.
    assert {tuple(r.weeks) for r in build(lake).values()} == {()}
    assert all(finding.passed for finding in checks(lake))


def test_a_redelivered_week_replaces_exactly_its_rows(tmp_path, weeks_dir):
    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = LocalLake(tmp_path / "lake")
    land(lake, *files)
    build(lake)
    second = files[1]
    lines = second.read_text().splitlines()
    redelivered = tmp_path / "redelivered" / second.name
    redelivered.parent.mkdir()
    redelivered.write_text("\n".join(lines[: len(lines) // 2]) + "\n")  # half the lines (baskets may be cut: fine)
    untouched = {table: content(lake, table).filter(pl.col("shop_week") != int(second.stem[-6:])) for table in DOWNSTREAM}

    land(lake, redelivered)
    assert {tuple(r.weeks) for r in build(lake).values()} == {(int(second.stem[-6:]),)}
    for table in DOWNSTREAM:
        assert content(lake, table).filter(pl.col("shop_week") != int(second.stem[-6:])).equals(untouched[table]), table
    assert_same_as_from_scratch(lake, tmp_path)
    assert all(finding.passed for finding in checks(lake))


def test_an_emptied_or_deleted_week_leaves_no_orphan_rows(tmp_path, weeks_dir):
    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = LocalLake(tmp_path / "lake")
    land(lake, *files)
    build(lake)
    emptied, deleted = int(files[2].stem[-6:]), int(files[3].stem[-6:])

    # A re-delivery whose every line breaks the contract: the week has no kept rows any more.
    header, *rows = files[2].read_text().splitlines()
    broken = tmp_path / "broken" / files[2].name
    broken.parent.mkdir()
    broken.write_text("\n".join([header, *(row.replace("Top Up", "Weird").replace("Small Shop", "Weird").replace("Full Shop", "Weird")
                                           .replace(",XX,", ",Weird,") for row in rows)]) + "\n")
    land(lake, broken)
    assert lake.count_rows(tables.RAW) and emptied not in weeks_of(lake, tables.RAW)
    assert build(lake)[tables.FEATURES].weeks == [emptied]
    for table in DOWNSTREAM:
        assert emptied not in weeks_of(lake, table), table

    # A week deleted from raw by another tool, whose commit does not say which weeks it touched.
    DeltaTable(lake.table_uri(tables.RAW)).delete(f"shop_week = {deleted}")
    assert {r.weeks for r in build(lake).values()} == {None}  # so every week is rebuilt
    for table in DOWNSTREAM:
        assert deleted not in weeks_of(lake, table), table
    assert all(finding.passed for finding in checks(lake))


def test_a_basket_split_across_weeks_is_set_aside_and_returns_when_fixed(tmp_path, weeks_dir):
    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = LocalLake(tmp_path / "lake")
    land(lake, *files[:4])
    build(lake)
    basket = lake.scan(tables.GOLD).filter(pl.col("shop_week") == int(files[0].stem[-6:])).select("basket_id").head(1).collect().item()
    # The last week's file repeats a basket of the first week: one BASKET_ID in two weeks.
    last = files[4].read_text().splitlines()
    fields = last[1].split(",")
    fields[contract.COLUMNS.index("BASKET_ID")] = basket
    clashing = tmp_path / "clash" / files[4].name
    clashing.parent.mkdir()
    clashing.write_text("\n".join([last[0], ",".join(fields), *last[2:]]) + "\n")

    land(lake, clashing)
    rebuilds = build(lake)
    first_week, last_week = int(files[0].stem[-6:]), int(files[4].stem[-6:])
    assert rebuilds[tables.SILVER].weeks == [first_week, last_week]  # the first week's silver loses the basket too
    assert basket in lake.scan(tables.BASKET_QUARANTINE).collect()["basket_id"].to_list()
    assert basket not in lake.scan(tables.GOLD).collect()["basket_id"].to_list()
    assert_same_as_from_scratch(lake, tmp_path / "clashing")

    land(lake, files[4])  # the fixed re-delivery
    assert build(lake)[tables.SILVER].weeks == [first_week, last_week]
    assert basket in lake.scan(tables.GOLD).collect()["basket_id"].to_list()
    assert lake.scan(tables.BASKET_QUARANTINE).collect().is_empty()
    assert_same_as_from_scratch(lake, tmp_path / "fixed")


def test_the_unique_basket_check_still_sees_the_whole_table(tmp_path, weeks_dir):
    """Checked only through the new week's ids, a basket id repeated from an old week is still found."""
    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = LocalLake(tmp_path / "lake")
    land(lake, *files)
    build(lake)
    assert invariants.gold_has_one_row_per_basket(lake).passed
    gold = lake.scan(tables.GOLD).collect()
    last = int(files[4].stem[-6:])
    stray = gold.filter(pl.col("shop_week") == int(files[1].stem[-6:])).head(1).with_columns(shop_week=pl.lit(last, pl.Int32()))
    week = pl.concat([gold.filter(pl.col("shop_week") == last), stray])
    lake.replace_where(tables.GOLD, week, tables.BY_REGION_AND_TYPE, "shop_week", [last], properties={"partitions": "all", "weeks": str(last)})
    finding = invariants.gold_has_one_row_per_basket(lake)
    assert not finding.passed and finding.metadata["also_in_other_weeks"] == 1
    assert finding.metadata["weeks_checked"] == str(last) and finding.metadata["rows_checked"] < gold.height


def checks(lake: LocalLake) -> list[invariants.Finding]:
    return [
        invariants.silver_keeps_every_raw_row(lake),
        invariants.gold_has_one_row_per_basket(lake),
        invariants.gold_lines_add_up_to_silver(lake),
        invariants.gold_attributes_agree(lake),
    ]


def test_maintenance_compacts_and_vacuums_but_keeps_what_models_were_trained_on(tmp_path, weeks_dir):

    from retail_assets.lake.maintenance import maintain

    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = LocalLake(tmp_path / "lake")
    land(lake, *files[:3])
    build(lake)
    # A model trained now records what the training asset records: the features version and its lineage.
    trained_on = lake.table_version(tables.FEATURES)
    training_rows = content(lake, tables.FEATURES)
    data_versions = {tables.FEATURES: trained_on, **lake.lineage(tables.FEATURES, trained_on)}
    lake.write_json("models/20260101-000000-test/metrics.json", {"macro_f1": 0.9, "data_versions": data_versions})
    for path in files[3:]:  # two more weeks, one at a time, then a re-delivery: versions the model never read
        land(lake, path)
        build(lake)
    redelivered = tmp_path / "again" / files[0].name
    redelivered.parent.mkdir()
    redelivered.write_text("\n".join(files[0].read_text().splitlines()[:50]) + "\n")
    land(lake, redelivered)
    build(lake)
    unpinned = trained_on + 1
    assert lake.scan(tables.FEATURES, version=unpinned).collect().height  # readable before the vacuum
    current = {table: content(lake, table) for table in DOWNSTREAM}

    done = {m.table: m for m in maintain(lake, retention_hours=0)}
    features = done[tables.FEATURES]
    assert features.files_compacted > features.files_written >= 1 and features.files_after < features.files_before
    assert features.files_vacuumed > 0 and features.kept_versions == (trained_on,)
    assert done[tables.GOLD].kept_versions == (data_versions[tables.GOLD],)
    # Time travel to the model's training rows still works; a version no model read is gone.
    assert content_at(lake, tables.FEATURES, trained_on).equals(training_rows)
    assert lake.scan(tables.GOLD, version=data_versions[tables.GOLD]).collect().height
    with pytest.raises(Exception):  # noqa: B017 - deltalake/polars report the missing files in their own ways
        lake.scan(tables.FEATURES, version=unpinned).collect()
    # Compaction changed no row, does not make silver or gold look stale, and the next run rewrites nothing.
    for table in DOWNSTREAM:
        assert content(lake, table).equals(current[table]), table
    assert not tables.lake_freshness(lake).stale
    assert {tuple(r.weeks) for r in build(lake).values()} == {()}

    # The scheduled job's asset reports the same figures in its metadata.
    import dagster as dg

    from retail_assets.defs.lake.maintenance import lake_maintenance

    config = {"ops": {"lake_maintenance": {"config": {"retention_hours": 0}}}}
    result = dg.materialize([lake_maintenance], resources={"lake": lake}, run_config=config)
    metadata = result.asset_materializations_for_node("lake_maintenance")[0].metadata
    assert metadata["versions_kept_for_models"].value[tables.FEATURES] == [trained_on]
    assert metadata["files_after"].value <= metadata["files_before"].value and "files_vacuumed" in metadata["tables"].value
    assert content_at(lake, tables.FEATURES, trained_on).equals(training_rows)


def content_at(lake: LocalLake, table: str, version: int) -> pl.DataFrame:
    frame = lake.scan(table, version=version).collect()
    frame = frame.with_columns(pl.col("feature_names").list.sort(), pl.col("feature_values").list.sort())
    frame = frame.select(sorted(frame.columns))
    return frame.sort([c for c in frame.columns if not isinstance(frame.schema[c], pl.List | pl.Struct)])


def test_a_landed_week_through_the_dagster_runs(tmp_path, weeks_dir, monkeypatch):
    """The data half as `retail-mlops materialize` runs it: the second landing's runs rewrite only
    its week, say so in each asset's metadata, and every check passes on what they wrote."""
    import dagster as dg
    from rich.console import Console
    from rich.progress import Progress

    from retail_assets.pipeline import run_pipeline

    files = sorted(weeks_dir.glob("transactions_*.csv"))
    source = tmp_path / "landing"
    source.mkdir()
    monkeypatch.setenv("RETAIL_LAKE", str(tmp_path / "lake"))
    with dg.instance_for_test() as instance:
        for batch in (files[:4], files[4:]):
            for path in batch:
                (source / path.name).write_bytes(path.read_bytes())
            run_pipeline(source, instance, Progress(console=Console(quiet=True)), through_model=False)
        for name in ("silver_transactions", "gold_baskets", "basket_features"):
            event = instance.get_latest_materialization_event(dg.AssetKey(name))
            assert event.asset_materialization.metadata["weeks_rewritten"].value == files[4].stem[-6:], name
        for name, check in [("silver_transactions", "silver_rows_match_raw"), ("gold_baskets", "gold_basket_ids_unique"),
                            ("gold_baskets", "gold_lines_match_silver"), ("gold_baskets", "gold_basket_attributes_consistent")]:
            key = dg.AssetCheckKey(dg.AssetKey(name), check)
            latest = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)[0].evaluation
            assert latest.passed and latest.metadata["weeks_checked"].value == files[4].stem[-6:], check


def test_a_new_week_on_s3_rewrites_only_that_week(aws, tmp_path, weeks_dir):
    """The same predicate replace on moto's S3 (over HTTP): one commit per hop, the old files untouched."""
    from retail_model.lake import S3Lake

    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = S3Lake(f"s3://{aws.bucket}/lake", aws.settings())
    land(lake, *files[:2])
    build(lake)
    land(lake, files[2])
    rebuilds = build(lake)
    assert {tuple(r.weeks) for r in rebuilds.values()} == {(int(files[2].stem[-6:]),)}
    local = LocalLake(tmp_path / "local")
    land(local, *files[:3])
    build(local)
    for table in DOWNSTREAM:  # a file's version is its ETag on S3, its sha256 on a disk
        on_s3, on_disk = (content(each, table).drop("source_fingerprint", strict=False) for each in (lake, local))
        assert on_s3.equals(on_disk), table


def test_the_checks_still_fail_on_bad_rows_of_a_new_week(tmp_path, weeks_dir):
    """The checks count a landed week's rows from the Delta log (files that hold one week) and read
    gold's week once for its three checks: a lost line, a basket with disagreeing lines, raw rows
    missing for a logged week, each still fails its check, and names what it checked."""
    from retail_assets.defs.ingest.checks import raw_rows_reconcile_with_landed_files

    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = LocalLake(tmp_path / "lake")
    land(lake, *files[:4])
    build(lake)
    land(lake, files[4])
    build(lake)
    last = int(files[4].stem[-6:])
    assert all(finding.passed for finding in checks(lake)) and raw_rows_reconcile_with_landed_files(lake=lake).passed
    scope = {"partitions": "all", "weeks": str(last)}

    silver = lake.scan(tables.SILVER).filter(pl.col("shop_week") == last).collect()
    lake.replace_where(tables.SILVER, silver.slice(1), tables.BY_REGION_AND_TYPE, "shop_week", [last], properties=scope)
    lost = invariants.silver_keeps_every_raw_row(lake)
    assert not lost.passed and lost.metadata["raw_rows"] == lost.metadata["silver_rows"] + 1 and lost.metadata["weeks_checked"] == str(last)
    assert not invariants.gold_lines_add_up_to_silver(lake).passed  # gold still holds the lost line
    lake.replace_where(tables.SILVER, silver, tables.BY_REGION_AND_TYPE, "shop_week", [last], properties=scope)
    assert invariants.silver_keeps_every_raw_row(lake).passed and invariants.gold_lines_add_up_to_silver(lake).passed

    gold = lake.scan(tables.GOLD).filter(pl.col("shop_week") == last).collect()
    split = gold.with_columns(inconsistent_columns=pl.when(pl.int_range(pl.len()) == 0).then(1).otherwise(pl.col("inconsistent_columns")))
    lake.replace_where(tables.GOLD, split, tables.BY_REGION_AND_TYPE, "shop_week", [last], properties=scope)
    disagreeing = invariants.gold_attributes_agree(lake)
    assert not disagreeing.passed and disagreeing.metadata["inconsistent_baskets"] == 1

    raw = lake.scan(tables.RAW).filter(pl.col("shop_week") == last).collect()
    lake.replace_partitions(tables.RAW, raw.head(0), ["shop_week"], [{"shop_week": last}])  # the week's rows gone
    missing = raw_rows_reconcile_with_landed_files(lake=lake)
    assert not missing.passed and set(missing.metadata["mismatched_weeks"].value) == {str(last)}
    assert missing.metadata["mismatched_weeks"].value[str(last)]["raw"] == 0


def test_a_whole_table_check_after_a_full_rebuild_reads_what_the_log_cannot_count(tmp_path, weeks_dir):
    """A full rebuild writes files holding many weeks: their rows per week are read, not taken from the log."""
    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = LocalLake(tmp_path / "lake")
    land(lake, *files[:3])
    build(lake)
    assert invariants.silver_keeps_every_raw_row(lake).metadata["weeks_checked"] == "whole table"
    silver = lake.scan(tables.SILVER).collect()
    lake.overwrite_table(tables.SILVER, silver.slice(1), tables.BY_REGION_AND_TYPE, properties={"partitions": "all", "weeks": "all"})
    lost = invariants.silver_keeps_every_raw_row(lake)
    assert not lost.passed and lost.metadata["raw_rows"] == lost.metadata["silver_rows"] + 1
    weekly = lake.rows_by(tables.SILVER, "shop_week")
    assert weekly == dict(silver.slice(1).group_by("shop_week").len().iter_rows())


def test_gold_checks_share_a_step_yet_run_alone_and_the_unique_basket_check_still_blocks(tmp_path, weeks_dir):
    """Gold's three checks are one step (one read of the new weeks); the UI can still run one of
    them alone, and a failed `gold_basket_ids_unique` still keeps basket_features from running."""
    import dagster as dg

    from retail_assets.defs.features.assets import basket_features
    from retail_assets.defs.lake.checks import gold_checks

    files = sorted(weeks_dir.glob("transactions_*.csv"))
    lake = LocalLake(tmp_path / "lake")
    land(lake, *files)
    build(lake)
    gold_key = dg.AssetKey("gold_baskets")
    lines = dg.AssetCheckKey(gold_key, "gold_lines_match_silver")
    unique = dg.AssetCheckKey(gold_key, "gold_basket_ids_unique")
    one_check = dg.define_asset_job("one_check", selection=dg.AssetSelection.checks(lines))
    with_features = dg.define_asset_job("with_features", selection=dg.AssetSelection.checks(unique) | dg.AssetSelection.assets(basket_features))
    definitions = dg.Definitions(
        assets=[dg.AssetSpec(gold_key), basket_features], asset_checks=[gold_checks], jobs=[one_check, with_features], resources={"lake": lake}
    )
    with dg.instance_for_test() as instance:
        result = definitions.resolve_job_def("one_check").execute_in_process(instance=instance)
        assert [(e.check_name, e.passed) for e in result.get_asset_check_evaluations()] == [("gold_lines_match_silver", True)]

        gold = lake.scan(tables.GOLD).collect()
        last = int(files[4].stem[-6:])
        stray = gold.filter(pl.col("shop_week") == int(files[1].stem[-6:])).head(1).with_columns(shop_week=pl.lit(last, pl.Int32()))
        week = pl.concat([gold.filter(pl.col("shop_week") == last), stray])
        lake.replace_where(tables.GOLD, week, tables.BY_REGION_AND_TYPE, "shop_week", [last], properties={"partitions": "all", "weeks": str(last)})
        features_before = lake.table_version(tables.FEATURES)
        result = definitions.resolve_job_def("with_features").execute_in_process(instance=instance, raise_on_error=False)
        assert [(e.check_name, e.passed) for e in result.get_asset_check_evaluations()] == [("gold_basket_ids_unique", False)]
        assert not result.success and not result.asset_materializations_for_node("basket_features")
        assert lake.table_version(tables.FEATURES) == features_before
