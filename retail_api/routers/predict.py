"""POST /v1/predict and /v1/predict/batch: baskets in, price sensitivity out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status

from retail_api.schemas import BasketIn, BasketPrediction, BatchIn, BatchOut, PredictionOut, Probabilities
from retail_model.artifact import Prediction, PriceSensitivityModel


def require_api_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
    expected = request.app.state.settings.api_key
    if expected is None:
        return
    if x_api_key is None or not secrets.compare_digest(x_api_key.encode(), expected.get_secret_value().encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong X-API-Key header",
            headers={"WWW-Authenticate": "ApiKey"},
        )


def serving_model(request: Request) -> PriceSensitivityModel:
    """The model at this instant: a hot swap after this point does not affect this request."""
    store = request.app.state.model_store
    model = store.model
    if model is None:
        reason = store.last_error or "the model is still loading"
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"no model is loaded, so no prediction can be made: {reason}",
            headers={"Retry-After": "5"},
        )
    return model


ServingModel = Annotated[PriceSensitivityModel, Depends(serving_model)]
router = APIRouter(prefix="/v1", tags=["predict"], dependencies=[Depends(require_api_key)])


@router.post("/predict", response_model=PredictionOut)
def predict(body: BasketIn, model: ServingModel, request: Request) -> PredictionOut:
    # A plain def: FastAPI runs it in its thread pool, so scoring never blocks the event loop.
    [prediction] = model.predict([body.to_basket()])
    return PredictionOut(
        **_prediction(body.basket_id, prediction).model_dump(),
        model_version=model.version,
        request_id=request.state.request_id,
    )


@router.post("/predict/batch", response_model=BatchOut)
def predict_batch(body: BatchIn, model: ServingModel, request: Request) -> BatchOut:
    predictions = model.predict([basket.to_basket() for basket in body.baskets])
    return BatchOut(
        predictions=[_prediction(b.basket_id, p) for b, p in zip(body.baskets, predictions, strict=True)],
        model_version=model.version,
        request_id=request.state.request_id,
    )


def _prediction(basket_id: str, prediction: Prediction) -> BasketPrediction:
    return BasketPrediction(
        basket_id=basket_id,
        price_sensitivity=prediction.price_sensitivity,
        code=prediction.code,
        probabilities=Probabilities(**prediction.probabilities),
    )
