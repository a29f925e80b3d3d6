"""The naive baseline bench/serve.py measures against: a first FastAPI model service, as usually written.

FastAPI validates the body with pydantic (its dict path), the basket's lines become a pandas
DataFrame, the features are computed from it, and the scikit-learn pipeline's `predict_proba`
scores them. It answers the same classes as retail_api (bench/serve.py checks that before timing).

    NAIVE_MODEL_DIR=.retail/models/<version> uvicorn bench.naive_service:app
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Literal

import joblib
import numpy as np
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel, Field

CLASS_BY_CODE = {"LA": "High", "MM": "Medium", "UM": "Low"}
state: dict = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    payload = joblib.load(os.path.join(os.environ["NAIVE_MODEL_DIR"], "model.joblib"))
    state["pipeline"], state["classes"] = payload["pipeline"], payload["metadata"]["classes"]
    yield


app = FastAPI(title="naive baseline", lifespan=lifespan)


class Line(BaseModel):
    prod_code: str
    prod_code_10: str | None = None
    prod_code_20: str | None = None
    prod_code_30: str | None = None
    prod_code_40: str | None = None
    quantity: int = Field(ge=1)
    spend: float = Field(ge=0)


class Customer(BaseModel):
    code: str | None = None
    price_sensitivity: str | None = None
    lifestage: str | None = None


class Basket(BaseModel):
    basket_id: str
    shop_date: date
    shop_hour: int = Field(ge=0, le=23)
    store_code: str
    store_format: str
    store_region: str
    basket_size: str
    basket_type: str
    basket_dominant_mission: str
    customer: Customer | None = None
    lines: list[Line]


class Answer(BaseModel):
    basket_id: str
    price_sensitivity: Literal["High", "Medium", "Low"]
    code: str
    probabilities: dict[str, float]


@app.post("/v1/predict", response_model=Answer)
def predict(basket: Basket) -> Answer:
    lines = pd.DataFrame([line.model_dump() for line in basket.lines])
    hour_band = "morning" if basket.shop_hour < 12 else "afternoon" if basket.shop_hour < 17 else "evening"
    features = {
        f"store_format={basket.store_format}": 1.0,
        f"store_region={basket.store_region}": 1.0,
        f"basket_size={basket.basket_size}": 1.0,
        f"basket_type={basket.basket_type}": 1.0,
        f"basket_dominant_mission={basket.basket_dominant_mission}": 1.0,
        f"shop_weekday={basket.shop_date.isoweekday() % 7 + 1}": 1.0,
        f"shop_hour_band={hour_band}": 1.0,
    }
    if basket.customer is None or not basket.customer.code:
        features["customer=anonymous"] = 1.0
    else:
        features[f"customer_price_sensitivity={basket.customer.price_sensitivity or 'XX'}"] = 1.0
        features[f"customer_lifestage={basket.customer.lifestage or 'XX'}"] = 1.0
    for column, prefix in (("prod_code", "product"), ("prod_code_10", "product_10"), ("prod_code_20", "product_20")):
        for code in lines[column].dropna():
            features[f"{prefix}={code}"] = 1.0
    spend, quantity = float(lines["spend"].sum()), int(lines["quantity"].sum())
    features |= {
        "log_lines": math.log1p(len(lines)),
        "log_quantity": math.log1p(quantity),
        "log_spend": math.log1p(spend),
        "log_spend_per_item": math.log1p(spend / max(quantity, 1)),
    }
    probabilities = np.asarray(state["pipeline"].predict_proba([features]))[0]
    classes = state["classes"]
    code = classes[int(np.argmax(probabilities))]
    by_class = dict.fromkeys(CLASS_BY_CODE.values(), 0.0) | {CLASS_BY_CODE[c]: float(p) for c, p in zip(classes, probabilities, strict=True)}
    return Answer(basket_id=basket.basket_id, price_sensitivity=CLASS_BY_CODE[code], code=code, probabilities=by_class)
