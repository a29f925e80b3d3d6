"""A basket as it stands at checkout: the only input the features may see.

Training builds these from gold rows, the API from a request body, so both sides hand the
feature code exactly the same thing. The basket's label columns are deliberately absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class BasketLine:
    prod_code: str
    prod_code_10: str | None
    prod_code_20: str | None
    prod_code_30: str | None
    prod_code_40: str | None
    quantity: int
    spend: float


@dataclass(frozen=True, slots=True)
class Customer:
    code: str | None
    price_sensitivity: str | None
    lifestage: str | None


@dataclass(frozen=True, slots=True)
class Basket:
    shop_date: date
    shop_hour: int
    store_code: str
    store_format: str
    store_region: str
    basket_size: str
    basket_type: str
    basket_dominant_mission: str
    customer: Customer | None
    lines: tuple[BasketLine, ...]
