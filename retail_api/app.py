"""The FastAPI application: `uvicorn retail_api.app:create_app --factory`.

Settings are read when the app is created, the model is loaded once in the lifespan, and a
background task keeps it in step with the registry's release (see model_store).
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retail_api.model_store import ModelStore
from retail_api.routers import health, predict
from retail_api.settings import Settings

# An incoming id is echoed only if it is short and plain, so it cannot inject into logs/headers.
_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    store = ModelStore(settings.open_registry(settings.open_lake()), settings.model_poll_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(store.refresh)
        store.start_polling()
        try:
            yield
        finally:
            await store.stop_polling()

    app = FastAPI(
        title="Retail price-sensitivity API",
        summary="Predicts a basket's price sensitivity (High/Medium/Low) at checkout.",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.model_store = store
    app.add_middleware(RequestIdMiddleware)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(health.router)
    app.include_router(predict.router)
    return app


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, made safe for inputs JSON cannot hold: a NaN echoed back would be a 500."""
    return JSONResponse(status_code=422, content={"detail": _finite(jsonable_encoder(error.errors()))})


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


class RequestIdMiddleware:
    """Gives every request an id (the caller's X-Request-ID, else a uuid4) and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id")
        request_id = incoming if incoming and _ACCEPTABLE_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_request_id)
