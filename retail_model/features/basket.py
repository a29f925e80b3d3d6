"""Basket -> sparse feature dict, one basket at a time: the implementation the API runs at checkout.

The product mix carries the label (docs/architecture.md, "Why the features look like this"), so every product in the basket
and its two finest hierarchy levels become indicator features; basket attributes, spend and
time add the weak signals. Names are stable strings, so a vectorizer fitted at training time
maps serving requests onto the same columns, and unseen products are simply ignored.
"""

from __future__ import annotations

import math

from retail_model.basket import Basket

# Bump when the meaning of any feature changes: models record the version they were trained on
# and the API refuses a model whose feature version it cannot compute.
FEATURE_VERSION = "1"


def basket_features(basket: Basket) -> dict[str, float]:
    features: dict[str, float] = {
        f"store_format={basket.store_format}": 1.0,
        f"store_region={basket.store_region}": 1.0,
        f"basket_size={basket.basket_size}": 1.0,
        f"basket_type={basket.basket_type}": 1.0,
        f"basket_dominant_mission={basket.basket_dominant_mission}": 1.0,
        f"shop_weekday={basket.shop_date.isoweekday() % 7 + 1}": 1.0,  # dunnhumby: 1 = Sunday
        f"shop_hour_band={_hour_band(basket.shop_hour)}": 1.0,
    }
    customer = basket.customer
    if customer is None or not customer.code:
        # An anonymous shopper has no segment: whatever a request sends beside no code is ignored,
        # exactly as the lake has no segment for rows without CUST_CODE.
        features["customer=anonymous"] = 1.0
    else:
        features[f"customer_price_sensitivity={customer.price_sensitivity or 'XX'}"] = 1.0
        features[f"customer_lifestage={customer.lifestage or 'XX'}"] = 1.0

    total_spend = 0.0
    total_quantity = 0
    for line in basket.lines:
        total_spend += line.spend
        total_quantity += line.quantity
        features[f"product={line.prod_code}"] = 1.0
        if line.prod_code_10:
            features[f"product_10={line.prod_code_10}"] = 1.0
        if line.prod_code_20:
            features[f"product_20={line.prod_code_20}"] = 1.0

    n_lines = len(basket.lines)
    features["log_lines"] = math.log1p(n_lines)
    features["log_quantity"] = math.log1p(max(total_quantity, 0))
    features["log_spend"] = math.log1p(max(total_spend, 0.0))
    features["log_spend_per_item"] = math.log1p(max(total_spend, 0.0) / max(total_quantity, 1))
    return features


def _hour_band(hour: int) -> str:
    if hour < 12:
        return "morning"
    if hour < 17:
        return "afternoon"
    return "evening"
