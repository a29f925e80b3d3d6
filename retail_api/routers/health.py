"""Probes: /healthz says the process is up, /readyz that a model is loaded and serving."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from retail_api.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    return HealthOut()


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(request: Request, response: Response) -> ReadyOut:
    store = request.app.state.model_store
    model = store.model
    if model is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return ReadyOut(status="not_ready", detail=store.last_error or "the model is still loading")
    return ReadyOut(
        status="ready",
        model_version=model.version,
        candidate=model.metadata.get("candidate"),
        feature_version=model.feature_version,
        loaded_at=store.loaded_at,
        detail=store.last_error,
    )
