"""The baseline for bench/ingest.py: the same transformation written the straightforward way.

pandas reads each weekly file, the data contract's rules run as vectorised pandas checks, silver
nulls anonymous shoppers' segments, gold groups lines into baskets with `groupby().apply`, and
the features come from `retail_model.basket_features`, basket by basket, as a first version of
this project would have done. Each table is written as Parquet. It is a measuring stick, not a
second implementation to maintain: only bench/ingest.py runs it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retail_assets.ingest import contract
from retail_model import FEATURE_VERSION, Basket, BasketLine, Customer, basket_features

COLUMNS = [name.lower() for name in contract.COLUMNS]


def read_week(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.columns = [c.strip().lower() for c in frame.columns]
    frame = frame.rename(columns={"seg_1": "cust_price_sensitivity", "seg_2": "cust_lifestage"})[COLUMNS]
    frame = frame.apply(lambda column: column.str.strip()).replace("", None)
    week = int(path.stem.split("_")[1])
    typed = pd.DataFrame(
        {
            "shop_week": pd.to_numeric(frame["shop_week"], errors="coerce"),
            "shop_date": pd.to_datetime(frame["shop_date"], format="%Y%m%d", errors="coerce"),
            "shop_weekday": pd.to_numeric(frame["shop_weekday"], errors="coerce"),
            "shop_hour": pd.to_numeric(frame["shop_hour"], errors="coerce"),
            "quantity": pd.to_numeric(frame["quantity"], errors="coerce"),
            "spend": pd.to_numeric(frame["spend"], errors="coerce"),
        }
    )
    bad = pd.Series(False, index=frame.index)
    for name in contract.REQUIRED_COLUMNS:
        bad |= frame[name.lower()].isna()
    bad |= typed.isna().any(axis=1) | (typed["shop_week"] != week) | ~typed["shop_hour"].between(0, 23)
    bad |= ~typed["shop_weekday"].between(1, 7) | (typed["quantity"] < 1) | (typed["spend"] < 0)
    for name, domain in contract.DOMAINS.items():
        bad |= frame[name.lower()].notna() & ~frame[name.lower()].isin(domain)
    bad |= ~frame["store_region"].fillna("").str.fullmatch(contract.STORE_REGION_PATTERN.pattern)
    kept = frame[~bad].copy()
    for name in typed.columns:
        kept[name] = typed.loc[~bad, name]
    kept["shop_date"] = kept["shop_date"].dt.date
    return kept, frame[bad]


def gold_from_silver(silver: pd.DataFrame) -> pd.DataFrame:
    """One row per basket: its first line's basket-level values and the list of its lines."""
    basket_level = [name.lower() for name in contract.BASKET_COLUMNS]
    line_fields = [name.lower() for name in contract.LINE_COLUMNS]
    silver = silver.assign(line=[dict(zip(line_fields, values)) for values in zip(*(silver[f] for f in line_fields))])
    grouped = silver.groupby("basket_id", sort=True)
    gold = grouped[basket_level].first()
    gold["n_lines"] = grouped.size()
    gold["lines"] = grouped["line"].agg(list)
    return gold.reset_index()


def features_from_gold(gold: pd.DataFrame) -> pd.DataFrame:
    names, values = [], []
    for row in gold.itertuples(index=False):
        customer = Customer(row.cust_code, row.cust_price_sensitivity, row.cust_lifestage) if row.cust_code else None
        lines = tuple(BasketLine(**line) for line in row.lines)
        basket = Basket(
            row.shop_date, row.shop_hour, row.store_code, row.store_format, row.store_region, row.basket_size,
            row.basket_type, row.basket_dominant_mission, customer, lines,
        )
        features = basket_features(basket)
        names.append(list(features))
        values.append(list(features.values()))
    return pd.DataFrame(
        {
            "basket_id": gold["basket_id"], "shop_week": gold["shop_week"],
            "basket_price_sensitivity": gold["basket_price_sensitivity"], "feature_names": names,
            "feature_values": values, "feature_version": FEATURE_VERSION,
        }
    )


def run(files: list[Path], out: Path) -> dict[str, int]:
    kept, quarantined = zip(*(read_week(path) for path in files), strict=True)
    raw = pd.concat(kept, ignore_index=True)
    raw.to_parquet(out / "raw.parquet")
    pd.concat(quarantined, ignore_index=True).astype(str).to_parquet(out / "quarantine.parquet")
    silver = raw.copy()
    anonymous = silver["cust_code"].isna()
    silver.loc[anonymous, ["cust_price_sensitivity", "cust_lifestage"]] = None
    silver = silver.sort_values(["basket_id", "prod_code"])
    silver.to_parquet(out / "silver.parquet")
    gold = gold_from_silver(silver)
    gold.to_parquet(out / "gold.parquet")
    features = features_from_gold(gold)
    features.to_parquet(out / "features.parquet")
    return {"raw_rows": len(raw), "gold_rows": len(gold), "feature_rows": len(features)}
