"""The application: `uvicorn retail_api.app:create_app --factory` (or `retail-mlops serve`).

Settings are read when the app is created. The lifespan loads the model (the version
RETAIL_MODEL_VERSION pins, or the registry's release, kept in step with it: see model_store) and
runs the prediction log's writer. `RetailApi` is
the ASGI app uvicorn runs: it gives every request an id and its metrics, sends the two prediction
endpoints down their raw fast path (retail_api.predict) and everything else (probes, /v1/model,
/metrics, /docs, /openapi.json) to FastAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import Message, Receive, Scope, Send

from retail_api import asgi
from retail_api.errors import error_body
from retail_api.metrics import UNMATCHED, ServiceMetrics
from retail_api.model_store import ModelStore
from retail_api.openapi import install_openapi
from retail_api.predict import Endpoint, PredictionEndpoints
from retail_api.log_shipper import Shipper
from retail_api.prediction_log import NoPredictionLog, PredictionLog
from retail_api.prediction_spool import default_spool
from retail_api.routers import health, metrics, model
from retail_api.settings import Settings

log = logging.getLogger(__name__)

# An incoming id is echoed only if it is short and plain, so it cannot inject into logs/headers.
_ACCEPTABLE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
DOCS_ASSETS = "/static-offline-docs"  # where fastapi-offline serves Swagger UI's files
ROUTES = frozenset({"/v1/predict", "/v1/predict/batch", "/v1/model", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"})


def create_app(settings: Settings | None = None) -> RetailApi:
    settings = settings or Settings()
    api_key = settings.resolved_api_key()
    lake = settings.open_lake()
    service_metrics = ServiceMetrics(ROUTES)
    pinned = settings.model_version is not None
    store = ModelStore(
        settings.open_registry(lake),
        settings.model_poll_seconds,
        pinned_version=settings.model_version,
        retry_max_seconds=settings.model_retry_max_seconds,
        on_serving=lambda model, swapped: service_metrics.serving(model, swapped, pinned),
        on_load_failure=service_metrics.model_load_failures.inc,
        on_stopped=service_metrics.not_serving,
    )
    prediction_log = _prediction_log(settings, service_metrics) if settings.prediction_log else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(store.refresh)
        store.start_polling()
        if prediction_log is not None:
            prediction_log.start()
        try:
            yield
        finally:
            await store.stop_polling()
            if prediction_log is not None:
                await asyncio.to_thread(prediction_log.close)

    app = FastAPIOffline(
        title="Retail price-sensitivity API",
        summary="Predicts a basket's price sensitivity (High/Medium/Low) at checkout.",
        version="1",
        lifespan=lifespan,
        redoc_url=None,
        static_url=DOCS_ASSETS,
    )
    app.state.settings, app.state.api_key = settings, api_key
    app.state.model_store, app.state.metrics, app.state.prediction_log = store, service_metrics, prediction_log
    app.include_router(health.router)
    app.include_router(model.router)
    app.include_router(metrics.router)
    install_openapi(app, settings, secured=api_key is not None)
    endpoints = PredictionEndpoints(store, settings, api_key, service_metrics, prediction_log or NoPredictionLog())
    return RetailApi(app, {"/v1/predict": endpoints.predict, "/v1/predict/batch": endpoints.predict_batch}, service_metrics)


def _prediction_log(settings: Settings, service_metrics: ServiceMetrics) -> PredictionLog:
    spool = settings.prediction_log_spool or default_spool(settings.lake)
    return PredictionLog(
        spool,
        service_metrics,
        Shipper(spool, settings.lake, settings.aws, interval=min(settings.prediction_log_flush_seconds, 5.0)),
        capture_percent=settings.prediction_log_capture_percent,
        flush_seconds=settings.prediction_log_flush_seconds,
        batch_rows=settings.prediction_log_batch_rows,
        queue_rows=settings.prediction_log_queue_rows,
        spool_max_bytes=settings.prediction_log_spool_max_bytes,
    )


class RequestIds:
    """Unique, UUID-formatted request ids: 80 random bits per process, then a counter.

    uuid.uuid4() reads the OS's random source on every call, a measurable share of a request here.
    """

    def __init__(self) -> None:
        random = os.urandom(10).hex()
        self._prefix = f"{random[:8]}-{random[8:12]}-{random[12:16]}-{random[16:]}-"
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


class RetailApi:
    """Request ids and metrics for every request; the prediction endpoints direct, the rest via FastAPI."""

    def __init__(self, fastapi: FastAPI, endpoints: dict[str, Endpoint], metrics: ServiceMetrics) -> None:
        self.fastapi, self.endpoints, self.metrics = fastapi, endpoints, metrics
        self.state = fastapi.state  # what tests and operators reach for: settings, model_store, metrics
        self.new_request_id = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan (and websockets, which FastAPI refuses)
            await self.fastapi(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id")
        request_id = incoming.decode() if incoming and _ACCEPTABLE_REQUEST_ID.fullmatch(incoming) else self.new_request_id()
        path = scope["path"]
        endpoint = self.endpoints.get(path)
        if endpoint is not None:
            status = await self._fast(endpoint, scope, receive, send, headers, request_id)
        else:
            scope.setdefault("state", {})["request_id"] = request_id
            status = await self._via_fastapi(scope, receive, send, request_id)
        route = path if path in ROUTES else (DOCS_ASSETS if path.startswith(DOCS_ASSETS + "/") else UNMATCHED)
        self.metrics.observe(route, status, time.perf_counter() - started)

    async def _fast(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send, headers: dict, request_id: str) -> int:
        try:
            return await endpoint(scope, receive, send, headers, request_id)
        except Exception:  # a bug must not leak a traceback to the client, nor go unlogged
            log.exception("request %s to %s failed", request_id, scope["path"])
            with contextlib.suppress(Exception):  # fails only if the answer had already started
                await asgi.respond(send, 500, error_body(f"internal error; quote request id {request_id}"), request_id)
            return 500

    async def _via_fastapi(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.fastapi(scope, receive, send_with_request_id)
        except Exception:  # Starlette has already answered 500 (no traceback); it re-raises for the log
            log.exception("request %s to %s failed", request_id, scope["path"])
            return 500
        return status
