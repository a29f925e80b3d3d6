"""Request and response bodies of the API, with the data contract's value domains.

The domains come from retail_model.domains, the copy the pipeline's data contract uses too
(the API must not import the Dagster code location). Requests are strict about
shape: unknown fields are refused, so a misspelt `customer` is a 422, not an anonymous basket.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from retail_model import Basket, BasketLine, Customer, domains

StoreFormat = Literal[domains.STORE_FORMATS]
BasketSize = Literal[domains.BASKET_SIZES]
BasketType = Literal[domains.BASKET_TYPES]
BasketMission = Literal[domains.BASKET_MISSIONS]
PriceSensitivityCode = Literal[domains.PRICE_SENSITIVITY_CODES]
Lifestage = Literal[domains.LIFESTAGE_CODES]
StoreRegion = Annotated[str, StringConstraints(pattern=domains.STORE_REGION_PATTERN)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

MAX_LINES_PER_BASKET = 500
MAX_BASKETS_PER_BATCH = 1000


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BasketLineIn(_Request):
    prod_code: Code
    prod_code_10: Code | None = None
    prod_code_20: Code | None = None
    prod_code_30: Code | None = None
    prod_code_40: Code | None = None
    quantity: int = Field(ge=1, le=10_000)
    spend: float = Field(ge=0, le=100_000, allow_inf_nan=False)


class CustomerIn(_Request):
    code: Code | None = None
    price_sensitivity: PriceSensitivityCode | None = None
    lifestage: Lifestage | None = None


class BasketIn(_Request):
    """One basket as it stands at checkout; `customer` absent means an anonymous shopper."""

    basket_id: Code
    shop_date: date
    shop_hour: int = Field(ge=0, le=23)
    store_code: Code
    store_format: StoreFormat
    store_region: StoreRegion
    basket_size: BasketSize
    basket_type: BasketType
    basket_dominant_mission: BasketMission
    customer: CustomerIn | None = None
    lines: list[BasketLineIn] = Field(min_length=1, max_length=MAX_LINES_PER_BASKET)

    def to_basket(self) -> Basket:
        customer = self.customer
        return Basket(
            shop_date=self.shop_date,
            shop_hour=self.shop_hour,
            store_code=self.store_code,
            store_format=self.store_format,
            store_region=self.store_region,
            basket_size=self.basket_size,
            basket_type=self.basket_type,
            basket_dominant_mission=self.basket_dominant_mission,
            customer=Customer(customer.code, customer.price_sensitivity, customer.lifestage) if customer else None,
            lines=tuple(BasketLine(**line.model_dump()) for line in self.lines),
        )


class BatchIn(_Request):
    baskets: list[BasketIn] = Field(min_length=1, max_length=MAX_BASKETS_PER_BATCH)


class Probabilities(BaseModel):
    High: float
    Medium: float
    Low: float


class BasketPrediction(BaseModel):
    basket_id: str
    price_sensitivity: Literal["High", "Medium", "Low"]
    code: Literal["LA", "MM", "UM"]
    probabilities: Probabilities


class PredictionOut(BasketPrediction):
    model_version: str
    request_id: str


class BatchOut(BaseModel):
    predictions: list[BasketPrediction]
    model_version: str
    request_id: str


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    model_version: str | None = None
    candidate: str | None = None
    feature_version: str | None = None
    loaded_at: str | None = None
    detail: str | None = None  # why it is not ready, or the last failed reload while serving
