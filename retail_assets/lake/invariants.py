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


def _rows(lake: Lake, table: str, weeks: set[int] | None) -> int:
    """Rows of `weeks` (None: all), counted from the Delta log wherever a file holds one week."""
    return sum(lake.rows_by(table, "shop_week", None if weeks is None else sorted(weeks)).values())


_GOLD_COLUMNS = ["shop_week", "basket_id", "n_lines", "inconsistent_columns"]
_gold_read: dict[tuple, pl.DataFrame] = {}


def _gold_of(lake: Lake, weeks: set[int] | None) -> pl.DataFrame | None:
    """The columns gold's three checks need, of the weeks they check: read once for the three
    (they run one after the other in a run's process), for one version of gold."""
    snapshot = lake.snapshot(GOLD)
    if snapshot is None:
        return None
    key = (lake.table_uri(GOLD), snapshot.version, None if weeks is None else tuple(sorted(weeks)))
    found = _gold_read.get(key)
    if found is None:
        found = _within(snapshot.frame, weeks).select(_GOLD_COLUMNS).collect()
        _gold_read.clear()  # only the latest write is checked again
        _gold_read[key] = found
    return found


def silver_keeps_every_raw_row(lake: Lake) -> Finding:
    """Kept raw rows = silver rows + set-aside basket lines, in the weeks silver last rewrote."""
    weeks, scope = _scope(lake, SILVER)
    raw, silver, set_aside = (_rows(lake, table, weeks) for table in (RAW, SILVER, BASKET_QUARANTINE))
    return Finding(raw == silver + set_aside, {"weeks_checked": scope, "raw_rows": raw, "silver_rows": silver, "basket_quarantine_rows": set_aside})


def gold_has_one_row_per_basket(lake: Lake) -> Finding:
    """No BASKET_ID twice in gold: the rewritten weeks' ids among themselves, and against the rest of
    the table read only where its ids could be (ids grow with time: the files' id ranges in the
    Delta log skip the others)."""
    weeks, scope = _scope(lake, GOLD)
    gold = _gold_of(lake, weeks)
    if gold is None:
        return Finding(False, {"reason": "gold is empty"})
    ids = gold["basket_id"]
    if weeks is None:
        rows, unique = ids.len(), ids.n_unique()
        return Finding(rows == unique, {"weeks_checked": scope, "rows": rows, "distinct_basket_ids": unique})
    twice_within = ids.len() - ids.n_unique()
    elsewhere = 0
    if ids.len():
        near = pl.col("basket_id").is_between(pl.lit(ids.min()), pl.lit(ids.max()))
        others = lake.scan(GOLD).filter(near & ~pl.col("shop_week").is_in(sorted(weeks)) & pl.col("basket_id").is_in(ids.implode()))
        elsewhere = others.select(pl.len()).collect().item()
    return Finding(
        twice_within == 0 and elsewhere == 0,
        {"weeks_checked": scope, "rows_checked": ids.len(), "repeated_within_weeks": twice_within, "also_in_other_weeks": elsewhere},
    )


def gold_lines_add_up_to_silver(lake: Lake) -> Finding:
    weeks, scope = _scope(lake, GOLD)
    gold = _gold_of(lake, weeks)
    lines = 0 if gold is None else int(gold["n_lines"].sum())
    silver = _rows(lake, SILVER, weeks)
    return Finding(lines == silver, {"weeks_checked": scope, "gold_lines": lines, "silver_rows": silver})


def gold_attributes_agree(lake: Lake) -> Finding:
    weeks, scope = _scope(lake, GOLD)
    gold = _gold_of(lake, weeks)
    bad = 0 if gold is None else int((gold["inconsistent_columns"] > 0).sum())
    return Finding(bad == 0, {"weeks_checked": scope, "inconsistent_baskets": bad})
