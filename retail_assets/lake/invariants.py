"""What the lake's checks prove, measured on the weeks the latest write replaced.

Each property holds for the whole table (a check passed when the other weeks were written, and
they have not changed since), so after a write of some weeks it is enough, and far cheaper, to
check those weeks: raw, silver and gold are read through their week partition or the row
groups whose statistics cover those weeks. A full rebuild checks everything. Plain logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from retail_assets.ingest.tables import RAW
from retail_assets.lake.tables import BASKET_QUARANTINE, GOLD, SILVER
from retail_assets.lake.weeks import last_rewrite
from retail_model.lake import Lake


@dataclass
class Finding:
    passed: bool
    metadata: dict[str, object] = field(default_factory=dict)


def _scope(lake: Lake, table: str) -> tuple[set[int] | None, str]:
    weeks = last_rewrite(lake, table)
    described = "whole table" if weeks is None else ("no week rewritten" if not weeks else ", ".join(map(str, sorted(weeks))))
    return weeks, described


def _within(frame: pl.LazyFrame | None, weeks: set[int] | None) -> pl.LazyFrame | None:
    if frame is None or weeks is None:
        return frame
    return frame.filter(pl.col("shop_week").is_in(sorted(weeks)))


def _rows(frame: pl.LazyFrame | None) -> int:
    return 0 if frame is None else frame.select(pl.len()).collect().item()


def silver_keeps_every_raw_row(lake: Lake) -> Finding:
    """Kept raw rows = silver rows + set-aside basket lines, in the weeks silver last rewrote."""
    weeks, scope = _scope(lake, SILVER)
    raw = _rows(_within(lake.scan(RAW), weeks))
    silver = _rows(_within(lake.scan(SILVER), weeks))
    set_aside = _rows(_within(lake.scan(BASKET_QUARANTINE), weeks))
    return Finding(raw == silver + set_aside, {"weeks_checked": scope, "raw_rows": raw, "silver_rows": silver, "basket_quarantine_rows": set_aside})


def gold_has_one_row_per_basket(lake: Lake) -> Finding:
    """No BASKET_ID twice in gold: the rewritten weeks' ids among themselves, and against the rest of
    the table read only where its ids could be (ids grow with time; files are sorted by week and id)."""
    weeks, scope = _scope(lake, GOLD)
    gold = lake.scan(GOLD)
    if gold is None:
        return Finding(False, {"reason": "gold is empty"})
    if weeks is None:
        rows, unique = gold.select(pl.len(), pl.col("basket_id").n_unique()).collect().row(0)
        return Finding(rows == unique, {"weeks_checked": scope, "rows": rows, "distinct_basket_ids": unique})
    ids = _within(gold, weeks).select("basket_id").collect()["basket_id"]
    twice_within = ids.len() - ids.n_unique()
    elsewhere = 0
    if ids.len():
        near = pl.col("basket_id").is_between(pl.lit(ids.min()), pl.lit(ids.max()))
        others = gold.filter(near & ~pl.col("shop_week").is_in(sorted(weeks)) & pl.col("basket_id").is_in(ids.implode()))
        elsewhere = _rows(others)
    return Finding(
        twice_within == 0 and elsewhere == 0,
        {"weeks_checked": scope, "rows_checked": ids.len(), "repeated_within_weeks": twice_within, "also_in_other_weeks": elsewhere},
    )


def gold_lines_add_up_to_silver(lake: Lake) -> Finding:
    weeks, scope = _scope(lake, GOLD)
    gold = _within(lake.scan(GOLD), weeks)
    lines = 0 if gold is None else gold.select(pl.col("n_lines").sum()).collect().item()
    silver = _rows(_within(lake.scan(SILVER), weeks))
    return Finding(lines == silver, {"weeks_checked": scope, "gold_lines": lines, "silver_rows": silver})


def gold_attributes_agree(lake: Lake) -> Finding:
    weeks, scope = _scope(lake, GOLD)
    gold = _within(lake.scan(GOLD), weeks)
    bad = 0 if gold is None else _rows(gold.filter(pl.col("inconsistent_columns") > 0))
    return Finding(bad == 0, {"weeks_checked": scope, "inconsistent_baskets": bad})
