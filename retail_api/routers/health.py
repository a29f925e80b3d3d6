"""Probes: /healthz says the process is up, /readyz that a model is loaded and serving. No key needed.

A pod pinned to a version (RETAIL_MODEL_VERSION) that cannot serve it is not ready, so a rollout
of a bad pin stops at its first pod instead of replacing pods that serve.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    model_version: str | None = None
    candidate: str | None = None
    feature_version: str | None = None
    loaded_at: str | None = None
    pinned: bool = False  # True when RETAIL_MODEL_VERSION pins the version (the serving pointer is not followed)
    pinned_version: str | None = None
    detail: str | None = None  # why it is not ready, or the last failed reload while serving


@router.get("/healthz", response_model=HealthOut, summary="Liveness: the process answers")
def healthz() -> HealthOut:
    return HealthOut()


@router.get(
    "/readyz",
    response_model=ReadyOut,
    summary="Readiness: a model is loaded and serving",
    responses={
        503: {
            "model": ReadyOut,
            "description": "No model serves: none released, the pinned or released one failed to load, or it was rejected with nothing to roll back to",
        }
    },
)
def readyz(request: Request, response: Response) -> ReadyOut:
    store = request.app.state.model_store
    serving = store.serving
    if serving is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return ReadyOut(status="not_ready", pinned=store.pinned, pinned_version=store.pinned_version,
                        detail=store.last_error or "the model is still loading")
    return ReadyOut(
        status="ready",
        model_version=serving.model.version,
        candidate=serving.model.metadata.get("candidate"),
        feature_version=serving.model.feature_version,
        loaded_at=serving.loaded_at,
        pinned=store.pinned,
        pinned_version=store.pinned_version,
        detail=store.last_error,
    )
