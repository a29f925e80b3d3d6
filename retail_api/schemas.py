"""Request and response bodies of the prediction endpoints, with the data contract's value domains.

They are msgspec Structs: the endpoints validate a request straight from its body bytes with
them (several times cheaper than pydantic's path, see bench/README.md), and the OpenAPI schema of
these endpoints is generated from the same classes (retail_api.openapi), so the documented and
the enforced contract are one. Requests are strict about shape: unknown fields are refused, so a
misspelt `customer` is a 422, not an anonymous basket. The domains come from
retail_model.domains, the copy the pipeline's data contract uses too.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec

from retail_model import Basket, BasketLine, Customer, domains

StoreFormat = Literal[domains.STORE_FORMATS]
BasketSize = Literal[domains.BASKET_SIZES]
BasketType = Literal[domains.BASKET_TYPES]
BasketMission = Literal[domains.BASKET_MISSIONS]
PriceSensitivityCode = Literal[domains.PRICE_SENSITIVITY_CODES]
Lifestage = Literal[domains.LIFESTAGE_CODES]
# max_length: Python's `$` also matches before a final newline, ECMAScript's does not; 3 characters settles it.
StoreRegion = Annotated[str, msgspec.Meta(pattern=domains.STORE_REGION_PATTERN, min_length=3, max_length=3, examples=["E02"])]
# A code is taken verbatim, and must not be blank: made only of ASCII whitespace. That is checked
# in __post_init__ (str.strip) rather than by a msgspec pattern, which would run Python's re once
# per code (90 calls for an 18-line basket, most of the cost of validating it); the schema states
# the same rule as a pattern with an explicit class, which means the same in every regex engine
# (\s does not: Python's includes \x1c-\x1f, ECMAScript's does not).
WHITESPACE = " \t\n\r\x0b\x0c"
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64, extra_json_schema={"pattern": r"[^ \t\n\r\v\f]"})]
# JSON has one number type: 2.0 is the whole number 2 (JSON Schema's "integer" accepts it), but
# msgspec's int refuses it. So whole numbers are floats that are a multiple of 1 (the schema says
# exactly that). The features compute the same numbers from 2.0 as from 2; to_basket makes ints.
Quantity = Annotated[float, msgspec.Meta(ge=1, le=10_000, multiple_of=1)]
Spend = Annotated[float, msgspec.Meta(ge=0, le=100_000, description="GBP, finite")]
Hour = Annotated[float, msgspec.Meta(ge=0, le=23, multiple_of=1)]
MAX_EXPLAIN = 50
Explain = Annotated[
    float,  # a whole number, as JSON may spell it (3 or 3.0): see Quantity
    msgspec.Meta(
        ge=0,
        le=MAX_EXPLAIN,
        multiple_of=1,
        description="How many feature contributions to return per class (the largest by magnitude); 0 or absent: no explanation",
    ),
]


# gc=False: a decoded request (and an answer) is a tree of strings, numbers, lists and structs
# that refer only downwards, so it can never be part of a reference cycle; untracked, a
# 500-basket batch's ~10,000 structs no longer trigger a dozen collections while it is decoded.
class _Request(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    pass


class BasketLineIn(_Request):
    prod_code: Code
    quantity: Quantity
    spend: Spend
    prod_code_10: Code | None = None
    prod_code_20: Code | None = None
    prod_code_30: Code | None = None
    prod_code_40: Code | None = None

    def __post_init__(self) -> None:
        # Spelt out (no loop, no helper): this runs for every line of every request.
        if (
            not self.prod_code.strip(WHITESPACE)
            or (self.prod_code_10 is not None and not self.prod_code_10.strip(WHITESPACE))
            or (self.prod_code_20 is not None and not self.prod_code_20.strip(WHITESPACE))
            or (self.prod_code_30 is not None and not self.prod_code_30.strip(WHITESPACE))
            or (self.prod_code_40 is not None and not self.prod_code_40.strip(WHITESPACE))
        ):
            names = ("prod_code", "prod_code_10", "prod_code_20", "prod_code_30", "prod_code_40")
            blank = next(name for name in names if not (getattr(self, name) or "x").strip(WHITESPACE))
            raise ValueError(f"`{blank}` is blank")


class CustomerIn(_Request):
    code: Code | None = None
    price_sensitivity: PriceSensitivityCode | None = None
    lifestage: Lifestage | None = None

    def __post_init__(self) -> None:
        if self.code is not None and not self.code.strip(WHITESPACE):
            raise ValueError("`code` is blank")


class BasketIn(_Request):
    """One basket as it stands at checkout; `customer` absent (or without `code`) means an anonymous shopper."""

    basket_id: Code
    shop_date: date
    shop_hour: Hour
    store_code: Code
    store_format: StoreFormat
    store_region: StoreRegion
    basket_size: BasketSize
    basket_type: BasketType
    basket_dominant_mission: BasketMission
    lines: Annotated[list[BasketLineIn], msgspec.Meta(min_length=1)]
    customer: CustomerIn | None = None
    explain: Explain = 0

    def __post_init__(self) -> None:
        if not self.basket_id.strip(WHITESPACE) or not self.store_code.strip(WHITESPACE):
            raise ValueError(f"`{'store_code' if self.basket_id.strip(WHITESPACE) else 'basket_id'}` is blank")

    def to_basket(self) -> Basket:
        """The basket as retail_model sees it (the features read the same attributes from either)."""
        customer = self.customer
        return Basket(
            shop_date=self.shop_date,
            shop_hour=int(self.shop_hour),
            store_code=self.store_code,
            store_format=self.store_format,
            store_region=self.store_region,
            basket_size=self.basket_size,
            basket_type=self.basket_type,
            basket_dominant_mission=self.basket_dominant_mission,
            customer=Customer(customer.code, customer.price_sensitivity, customer.lifestage) if customer else None,
            lines=tuple(
                BasketLine(line.prod_code, line.prod_code_10, line.prod_code_20, line.prod_code_30, line.prod_code_40, int(line.quantity), line.spend)
                for line in self.lines
            ),
        )

    @classmethod
    def model_validate(cls, data: Any) -> BasketIn:
        """Validate an already-parsed JSON object (tests and scripts; the endpoints decode bytes)."""
        return msgspec.convert(data, cls)


class BatchIn(_Request):
    baskets: Annotated[list[BasketIn], msgspec.Meta(min_length=1)]
    explain: Annotated[Explain, msgspec.Meta(description="Explain every basket with this many contributions per class (a basket's own `explain` may ask for more)")] = 0


class Probabilities(msgspec.Struct, gc=False):
    High: float
    Medium: float
    Low: float


class Contribution(msgspec.Struct, gc=False):
    feature: str  # as the model names it: product=..., product_10=..., customer_lifestage=..., log_spend, ...
    contribution: float


class ClassExplanation(msgspec.Struct, gc=False):
    """score = intercept + the sum of `top` + other, exactly."""

    score: float
    intercept: float
    top: list[Contribution]
    other: float  # the sum of the contributions not listed in `top`


class Explanation(msgspec.Struct, gc=False):
    """Why the basket got its answer: each class's score split into feature contributions.

    link `softmax`: the probabilities are softmax(scores) (linear models and trees; scores are centred
    across classes). `calibrated`: scores are LinearSVC decision margins averaged over the calibration
    folds, turned into probabilities by the calibrators. `blend`: scores are the weighted sum of the
    members' scores; the probabilities the weighted mean of the members' softmaxes.
    """

    link: Literal["softmax", "calibrated", "blend"]
    classes: dict[Literal["High", "Medium", "Low"], ClassExplanation]


class BasketPrediction(msgspec.Struct, omit_defaults=True, gc=False):
    basket_id: str
    price_sensitivity: Literal["High", "Medium", "Low"]
    code: Literal["LA", "MM", "UM"]
    probabilities: Probabilities
    explanation: Explanation | None = None  # only when the request asked (`explain`)


class PredictionOut(msgspec.Struct, omit_defaults=True, gc=False):
    basket_id: str
    price_sensitivity: Literal["High", "Medium", "Low"]
    code: Literal["LA", "MM", "UM"]
    probabilities: Probabilities
    model_version: str
    request_id: str
    explanation: Explanation | None = None  # only when the request asked (`explain`)


class BatchOut(msgspec.Struct, gc=False):
    predictions: list[BasketPrediction]
    model_version: str
    request_id: str


class ErrorOut(msgspec.Struct):
    """Every refusal but a malformed body: what went wrong and what to do."""

    detail: str


class ValidationIssue(msgspec.Struct):
    loc: list[str | int]  # where: "body", then field names and list positions
    msg: str
    type: Literal["json_invalid", "validation_error"]


class ValidationErrorOut(msgspec.Struct):
    """A malformed body (422): the first problem found, located."""

    detail: list[ValidationIssue]
