"""GET /v1/model: which model answers, how it was trained and scored, and on which data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from retail_api.auth import API_KEY_HEADER, UNAUTHORIZED_MESSAGE, key_is_accepted

ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorOut"}
_api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="RETAIL_API_KEY, when the API has one")


def require_api_key(request: Request, presented: Annotated[str | None, Depends(_api_key_header)]) -> None:
    if not key_is_accepted(request.app.state.api_key, presented):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, UNAUTHORIZED_MESSAGE, headers={"WWW-Authenticate": "ApiKey"})


class ScorerOut(BaseModel):
    kind: str = Field(description="linear, calibrated_linear, trees, constant, or pipeline (scikit-learn's own predict_proba)")
    reason: str | None = Field(default=None, description="why the pipeline's predict_proba is used, when it is")


class ModelOut(BaseModel):
    version: str
    candidate: str | None
    classes: list[str] = Field(description="dunnhumby codes the model tells apart")
    feature_version: str
    trained_at: str | None
    loaded_at: str
    pinned: bool = Field(description="true when RETAIL_MODEL_VERSION pins this version; false when the API follows the registry's release")
    registry_status: str
    model_uri: str
    metrics: dict[str, Any] = Field(description="test-split scores from training: accuracy, macro_f1, per_class, n_train, n_test")
    data_versions: dict[str, int] = Field(description="Delta version of every lake table the model was trained and tested on")
    scorer: ScorerOut


router = APIRouter(prefix="/v1", tags=["model"], dependencies=[Depends(require_api_key)])

_METRIC_KEYS = ("accuracy", "macro_f1", "per_class", "n_train", "n_test", "split")


@router.get(
    "/model",
    response_model=ModelOut,
    summary="The model serving now",
    responses={
        401: {"description": "Missing or wrong X-API-Key", "content": {"application/json": {"schema": ERROR_SCHEMA}}},
        503: {"description": "No model serves (see /readyz for why)", "content": {"application/json": {"schema": ERROR_SCHEMA}}},
    },
)
def model_info(request: Request) -> ModelOut:
    store = request.app.state.model_store
    serving = store.serving
    if serving is None:
        reason = store.last_error or "the model is still loading"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"no model is loaded: {reason}", headers={"Retry-After": "5"})
    model, entry = serving.model, serving.entry
    trained = model.training_metrics
    scorer = model.scorer
    return ModelOut(
        version=model.version,
        candidate=model.metadata.get("candidate"),
        classes=model.classes,
        feature_version=model.feature_version,
        trained_at=model.metadata.get("trained_at") or trained.get("trained_at"),
        loaded_at=serving.loaded_at,
        pinned=store.pinned,
        registry_status=entry.status,
        model_uri=entry.model_uri,
        metrics={key: trained[key] for key in _METRIC_KEYS if key in trained} or dict(entry.metrics),
        data_versions={str(k): int(v) for k, v in (trained.get("data_versions") or {}).items()},
        scorer=ScorerOut(kind=scorer.kind, reason=getattr(scorer, "reason", None) or None),
    )
