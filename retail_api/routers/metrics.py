"""GET /metrics: Prometheus' text format (or OpenMetrics on request), open like the probes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["operations"])

_TEXT = {"schema": {"type": "string"}}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format, or OpenMetrics when the Accept header asks for it",
            "content": {"text/plain": _TEXT, "application/openmetrics-text": _TEXT},
        }
    },
)
def metrics(request: Request) -> Response:
    body, content_type = request.app.state.metrics.exposition(request.headers.get("accept", ""))
    return Response(body, headers={"content-type": content_type})
