"""The data contract's row rules, as polars expressions: typing, and every rule a row breaks.

A row's `reason` lists every rule it breaks, joined by '; ' ("SPEND is not a number; SHOP_HOUR
outside 0..23"), so a quarantined row tells the whole story at once. Plain logic: no Dagster.
"""

from __future__ import annotations

import polars as pl

from retail_assets.ingest import contract

FILE_WEEK = "file_week"  # the week of the file a row came from (Int32), which its SHOP_WEEK must equal
# Columns whose text becomes a typed value; every other contract column stays text.
TYPED = {
    "shop_week": pl.Int32(),
    "shop_weekday": pl.Int8(),
    "shop_hour": pl.Int8(),
    "quantity": pl.Int32(),
    "spend": pl.Float64(),
}


def typed() -> list[pl.Expr]:
    """The text columns cast to their types, as `<name>_typed`; a value that does not parse becomes
    null (a rule catches it)."""
    return [
        *(pl.col(name).cast(dtype, strict=False).alias(f"{name}_typed") for name, dtype in TYPED.items()),
        pl.col("shop_date").str.to_date("%Y%m%d", strict=False).alias("shop_date_typed"),
    ]


def rules(week: pl.Expr) -> list[tuple[pl.Expr, str | pl.Expr]]:
    """(the row breaks it, the reason) for every rule; evaluated on a frame holding the text
    columns and their typed twins (suffix `_typed`). `week` is the week of the row's file: a
    column, so the rows of many files are checked in one query."""

    def text(name: str) -> pl.Expr:
        return pl.col(name)

    def value(name: str) -> pl.Expr:
        return pl.col(f"{name}_typed")

    found: list[tuple[pl.Expr, str | pl.Expr]] = []

    def rule(failed: pl.Expr, reason: str | pl.Expr) -> None:
        found.append((failed.fill_null(False), reason))

    for name in contract.REQUIRED_COLUMNS:
        rule(text(name.lower()).is_null(), f"missing {name}")
    for name in ("shop_week", "shop_weekday", "shop_hour", "quantity"):
        rule(text(name).is_not_null() & value(name).is_null(), f"{name.upper()} is not a whole number")
    rule(text("spend").is_not_null() & value("spend").is_null(), "SPEND is not a number")
    rule(text("shop_date").is_not_null() & value("shop_date").is_null(), "SHOP_DATE is not a YYYYMMDD date")
    rule(value("shop_week") != week, pl.format("SHOP_WEEK differs from the file's week {}", week))
    rule(~value("shop_hour").is_between(0, 23), "SHOP_HOUR outside 0..23")
    rule(~value("shop_weekday").is_between(1, 7), "SHOP_WEEKDAY outside 1..7")
    rule(value("quantity") < 1, "QUANTITY below 1")
    rule(value("spend") < 0, "SPEND is negative")
    rule(value("spend").is_nan() | value("spend").is_infinite(), "SPEND is not finite")
    for name, domain in contract.DOMAINS.items():
        column = text(name.lower())
        rule(column.is_not_null() & ~column.is_in(list(domain)), pl.format(f"{name} not in contract: {{}}", column))
    region = text("store_region")
    rule(region.is_not_null() & ~region.str.contains(contract.STORE_REGION_PATTERN.pattern), "STORE_REGION is not a region code")
    return found


def split_by_rules(strings: pl.LazyFrame, carried: list[str]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(kept rows, typed; rows that break a rule, as text with their reason). `strings` holds the
    text columns and `file_week`, the week of each row's file; `carried` columns ride along.

    Whether a row breaks any rule is a cheap boolean over every row; the reason text is built
    only for the rows that do (usually none). Collect both together (`pl.collect_all`) so the
    typing and the rules run once.
    """
    columns = contract.LAKE_COLUMNS
    every = rules(pl.col(FILE_WEEK))
    broken = pl.any_horizontal(failed for failed, _ in every)
    converted = set(TYPED) | {"shop_date"}
    flagged = strings.with_columns(typed()).with_columns(broken.alias("__broken"))
    kept = flagged.filter(~pl.col("__broken")).select(
        *(pl.col(f"{name}_typed").alias(name) if name in converted else pl.col(name) for name in columns), *carried
    )
    reason = pl.concat_str(
        [pl.when(failed).then(pl.lit(why) if isinstance(why, str) else why) for failed, why in every], separator="; ", ignore_nulls=True
    )
    quarantined = flagged.filter(pl.col("__broken")).select(*columns, *carried, reason.alias("reason"))
    return kept, quarantined
