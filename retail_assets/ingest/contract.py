"""The input data contract: dunnhumby "Let's Get Sort-of-Real" weekly extracts.

Column names, value domains and the alternative spelling some public re-uploads use. Plain
data, no Dagster: the reader, the generator and the checks all take their facts from here.
"""

from __future__ import annotations

import re

# The value domains are shared with the API, which must not import this package.
from retail_model.domains import (
    BASKET_MISSIONS,
    BASKET_SIZES,
    BASKET_TYPES,
    LIFESTAGE_CODES,
    PRICE_SENSITIVITY_CODES,
    STORE_FORMATS,
)
from retail_model.domains import STORE_REGION_PATTERN as _STORE_REGION_PATTERN

# The 22 columns of a weekly file, in dunnhumby's order.
COLUMNS: tuple[str, ...] = (
    "SHOP_WEEK",
    "SHOP_DATE",
    "SHOP_WEEKDAY",
    "SHOP_HOUR",
    "QUANTITY",
    "SPEND",
    "PROD_CODE",
    "PROD_CODE_10",
    "PROD_CODE_20",
    "PROD_CODE_30",
    "PROD_CODE_40",
    "CUST_CODE",
    "CUST_PRICE_SENSITIVITY",
    "CUST_LIFESTAGE",
    "BASKET_ID",
    "BASKET_SIZE",
    "BASKET_PRICE_SENSITIVITY",
    "BASKET_TYPE",
    "BASKET_DOMINANT_MISSION",
    "STORE_CODE",
    "STORE_FORMAT",
    "STORE_REGION",
)

# The lake's column names for them (its tables are lower-case).
LAKE_COLUMNS = [name.lower() for name in COLUMNS]

# Columns that must be present on every row. CUST_* are empty for anonymous shoppers, and the
# finer product levels are sometimes missing in the public data.
REQUIRED_COLUMNS = (
    "SHOP_WEEK",
    "SHOP_DATE",
    "SHOP_HOUR",
    "QUANTITY",
    "SPEND",
    "PROD_CODE",
    "BASKET_ID",
    "BASKET_SIZE",
    "BASKET_PRICE_SENSITIVITY",
    "BASKET_TYPE",
    "BASKET_DOMINANT_MISSION",
    "STORE_CODE",
    "STORE_FORMAT",
    "STORE_REGION",
)

DOMAINS: dict[str, tuple[str, ...]] = {
    "CUST_PRICE_SENSITIVITY": PRICE_SENSITIVITY_CODES,
    "CUST_LIFESTAGE": LIFESTAGE_CODES,
    "BASKET_SIZE": BASKET_SIZES,
    "BASKET_PRICE_SENSITIVITY": PRICE_SENSITIVITY_CODES,
    "BASKET_TYPE": BASKET_TYPES,
    "BASKET_DOMINANT_MISSION": BASKET_MISSIONS,
    "STORE_FORMAT": STORE_FORMATS,
}

# Regions are data, discovered from what lands; this only says what a region code looks like.
STORE_REGION_PATTERN = re.compile(_STORE_REGION_PATTERN)

# Some public re-uploads rename the two customer segment columns and recode their values.
ALTERNATIVE_COLUMN_NAMES = {"seg_1": "CUST_PRICE_SENSITIVITY", "seg_2": "CUST_LIFESTAGE"}
ALTERNATIVE_CODES: dict[str, dict[str, str]] = {
    "CUST_PRICE_SENSITIVITY": {"AZ": "LA", "BG": "UM", "CT": "MM", "DY": "XX"},
    "CUST_LIFESTAGE": {"AT": "YA", "BU": "OT", "CZ": "OA", "DI": "YF", "EQ": "OF", "FN": "PE"},
}

# Basket-level columns: constant within a basket.
BASKET_COLUMNS = (
    "SHOP_WEEK",
    "SHOP_DATE",
    "SHOP_WEEKDAY",
    "SHOP_HOUR",
    "CUST_CODE",
    "CUST_PRICE_SENSITIVITY",
    "CUST_LIFESTAGE",
    "BASKET_SIZE",
    "BASKET_PRICE_SENSITIVITY",
    "BASKET_TYPE",
    "BASKET_DOMINANT_MISSION",
    "STORE_CODE",
    "STORE_FORMAT",
    "STORE_REGION",
)
LINE_COLUMNS = ("PROD_CODE", "PROD_CODE_10", "PROD_CODE_20", "PROD_CODE_30", "PROD_CODE_40", "QUANTITY", "SPEND")

FILE_NAME_PATTERN = re.compile(r"^transactions_(?P<week>\d{6})\.csv$")
# Names a person meant as a weekly file but spelt differently (TRANSACTIONS_200607.CSV,
# transactions_2006-07.csv, transactions_200607.csv.txt): rejected with a reason, never skipped.
LOOKS_LIKE_A_WEEKLY_FILE = re.compile(r"(?i)^transactions|\.csv$")
_WEEK_IN_NAME = re.compile(r"(?i)^transactions\W?_?(?P<year>\d{4})\D?(?P<week>\d{2})\b")


def suggested_name(name: str) -> str | None:
    """The contract's spelling of a near-miss name (transactions_2006-07.CSV -> transactions_200607.csv), if any."""
    match = _WEEK_IN_NAME.match(name)
    return f"transactions_{match['year']}{match['week']}.csv" if match else None
