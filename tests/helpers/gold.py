"""Gold rows as the API receives them."""

from __future__ import annotations


def request_from_gold(row: dict) -> dict:
    """A gold basket as a checkout system would send it: no label columns."""
    body = {
        "basket_id": row["basket_id"],
        "shop_date": row["shop_date"].isoformat(),
        "shop_hour": row["shop_hour"],
        "store_code": row["store_code"],
        "store_format": row["store_format"],
        "store_region": row["store_region"],
        "basket_size": row["basket_size"],
        "basket_type": row["basket_type"],
        "basket_dominant_mission": row["basket_dominant_mission"],
        "lines": [dict(line) for line in row["lines"]],
    }
    if row["cust_code"]:
        body["customer"] = {"code": row["cust_code"], "price_sensitivity": row["cust_price_sensitivity"], "lifestage": row["cust_lifestage"]}
    return body
