"""POST /v1/predict and /v1/predict/batch, on a raw ASGI fast path.

These two endpoints are the product's traffic, so they skip FastAPI's routing, dependency
injection and dict-based validation (together most of a request's cost, see bench/README.md)
and do, in order: method, API key (before the body is read), content type, declared size, the
body read under the size limit, the serving model, msgspec validation straight from the bytes,
the per-basket limits, the compiled scorer, the answer, and the prediction log (for a request
the capture sample keeps: the answer and the body as received, appended to a queue).
Their OpenAPI description is generated from the same msgspec types (retail_api.openapi).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from itertools import repeat, starmap
from operator import attrgetter

import msgspec
from starlette.types import Receive, Scope, Send

from retail_api import asgi
from retail_api.asgi import Refusal
from retail_api.auth import API_KEY_HEADER, UNAUTHORIZED_MESSAGE, key_is_accepted
from retail_api.decoding import RequestDecoder
from retail_api.errors import error_body, validation_error_body
from retail_api.explanations import explain, scored_and_explained
from retail_api.metrics import ServiceMetrics
from retail_api.model_store import ModelStore
from retail_api.prediction_log import PredictionSink, captured
from retail_api.schemas import BasketIn, BasketPrediction, BatchIn, BatchOut, PredictionOut, Probabilities
from retail_api.settings import Settings
from retail_model import basket_features
from retail_model.artifact import PriceSensitivityModel
from retail_model.labels import CLASS_BY_CODE

log = logging.getLogger(__name__)

Endpoint = Callable[[Scope, Receive, Send, dict[bytes, bytes], str], Awaitable[int]]
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)  # ValidationError is a DecodeError
_UNAUTHORIZED = (b"www-authenticate", b"ApiKey")
_API_KEY_HEADER = API_KEY_HEADER.lower().encode()  # ASGI header names arrive lower-cased
_LINES, _BASKET_ID, _EXPLAIN = attrgetter("lines"), attrgetter("basket_id"), attrgetter("explain")


def predict_one(model: PriceSensitivityModel, basket: BasketIn, request_id: str) -> tuple[PredictionOut, str, list[list[float]]]:
    """One decoded basket's answer (explained in the same pass when it asks), its code and probabilities."""
    features = basket_features(basket)
    if basket.explain:  # scored and explained in one pass over the features
        code, scored, explanation = scored_and_explained(model, features, basket.explain, "$.explain")
        probabilities = [scored]
    else:
        [code], probabilities = model.score([features])
        explanation = None
    high, medium, low = probabilities[0]
    answer = PredictionOut(basket.basket_id, CLASS_BY_CODE[code], code, Probabilities(high, medium, low), model.version, request_id, explanation)
    return answer, code, probabilities


def predict_many(model: PriceSensitivityModel, batch: BatchIn, request_id: str) -> tuple[BatchOut, list[str], list[list[float]]]:
    """A decoded batch's answer, its codes and probabilities (the batch's limits already checked).

    Without explanations the baskets go straight to the scorer's columns (`score_baskets`: the
    same floats, no feature dict per basket); a batch that asks for any keeps the dicts, which
    the explanations read too.
    """
    baskets = batch.baskets
    if batch.explain or any(map(_EXPLAIN, baskets)):
        features = list(map(basket_features, baskets))
        codes, probabilities = model.score(features)
        explanations = explain(model, features, [max(batch.explain, basket.explain) for basket in baskets], "$.explain")
    else:
        codes, probabilities = model.score_baskets(baskets)
        explanations = repeat(None)
    # Per-basket work in C where it can be (map, starmap): a Python step per basket is a
    # noticeable share of a 500-basket request.
    predictions = list(map(BasketPrediction, map(_BASKET_ID, baskets), map(CLASS_BY_CODE.__getitem__, codes), codes,
                           starmap(Probabilities, probabilities), explanations))  # fmt: skip
    return BatchOut(predictions, model.version, request_id), codes, probabilities


class PredictionEndpoints:
    def __init__(self, store: ModelStore, settings: Settings, api_key: bytes | None, metrics: ServiceMetrics, sink: PredictionSink) -> None:
        self.store, self.api_key, self.metrics, self.sink = store, api_key, metrics, sink
        self.max_body_bytes = settings.max_body_bytes
        self.max_batch_baskets = settings.max_batch_baskets
        self.max_basket_lines = settings.max_basket_lines
        self._basket = RequestDecoder(BasketIn)
        self._batch = RequestDecoder(BatchIn)
        self._encode = msgspec.json.Encoder().encode

    async def predict(self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes], request_id: str) -> int:
        try:
            body, model = await self._admit(scope, receive, headers)
            try:
                basket = self._basket.decode(body)
            except _DECODE_ERRORS as error:
                raise Refusal(422, validation_error_body(error)) from None
            self._check_lines(basket, "the basket")
            answer, code, probabilities = predict_one(model, basket, request_id)
            self.metrics.count_predictions({CLASS_BY_CODE[code]: 1})
            if self.sink.sampled(1):
                self.sink.record(captured(request_id, model.version, False, [code], probabilities, body))
        except Refusal as refusal:
            return await self._refuse(send, refusal, request_id)
        except asgi.ClientDisconnected:
            return 499  # nginx's code for "client closed the request": nobody to answer
        await asgi.respond(send, 200, self._encode(answer), request_id)
        return 200

    async def predict_batch(self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes], request_id: str) -> int:
        try:
            body, model = await self._admit(scope, receive, headers)
            try:
                batch = self._batch.decode(body)
            except _DECODE_ERRORS as error:
                raise Refusal(422, validation_error_body(error)) from None
            baskets = batch.baskets
            if len(baskets) > self.max_batch_baskets:
                raise Refusal(
                    413,
                    error_body(
                        f"a batch may hold at most {self.max_batch_baskets} baskets (RETAIL_MAX_BATCH_BASKETS); "
                        f"this one holds {len(baskets)}: split it"
                    ),
                )
            if max(map(len, map(_LINES, baskets))) > self.max_basket_lines:
                number = next(n for n, basket in enumerate(baskets) if len(basket.lines) > self.max_basket_lines)
                self._check_lines(baskets[number], f"basket {number}")
            answer, codes, probabilities = predict_many(model, batch, request_id)
            self.metrics.count_predictions({CLASS_BY_CODE[code]: n for code, n in Counter(codes).items()})
            if self.sink.sampled(len(codes)):
                self.sink.record(captured(request_id, model.version, True, codes, probabilities, body))
        except Refusal as refusal:
            return await self._refuse(send, refusal, request_id)
        except asgi.ClientDisconnected:
            return 499
        await asgi.respond(send, 200, self._encode(answer), request_id)
        return 200

    async def _admit(self, scope: Scope, receive: Receive, headers: dict[bytes, bytes]) -> tuple[bytes, PriceSensitivityModel]:
        """Everything checked before scoring: the request's method, key, type and size, and a model."""
        if scope["method"] != "POST":
            raise Refusal(405, error_body(f"{scope['method']} is not allowed here: POST a JSON body"), ((b"allow", b"POST"),))
        if not key_is_accepted(self.api_key, headers.get(_API_KEY_HEADER)):
            raise Refusal(401, error_body(UNAUTHORIZED_MESSAGE), (_UNAUTHORIZED,))
        content_type = headers.get(b"content-type")
        if content_type is not None and not asgi.is_json(content_type):
            raise Refusal(415, error_body("send the body as JSON with Content-Type: application/json"))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large()
        try:
            body = await asgi.read_body(receive, self.max_body_bytes)
        except asgi.BodyTooLarge:
            raise self._too_large() from None
        model = self.store.model  # taken once: a swap after this point does not touch this request
        if model is None:
            reason = self.store.last_error or "the model is still loading"
            raise Refusal(503, error_body(f"no model is loaded, so no prediction can be made: {reason}"), ((b"retry-after", b"5"),))
        return body, model

    def _too_large(self) -> Refusal:
        # The rest of the body is never read, so the connection cannot carry another request.
        message = f"the body is larger than {self.max_body_bytes} bytes (RETAIL_MAX_BODY_BYTES): send fewer baskets per request"
        return Refusal(413, error_body(message), ((b"connection", b"close"),))

    def _check_lines(self, basket: BasketIn, which: str) -> None:
        if len(basket.lines) > self.max_basket_lines:
            message = f"{which} has {len(basket.lines)} lines; at most {self.max_basket_lines} are scored (RETAIL_MAX_BASKET_LINES)"
            raise Refusal(413, error_body(message))

    async def _refuse(self, send: Send, refusal: Refusal, request_id: str) -> int:
        await asgi.respond(send, refusal.status, refusal.body, request_id, refusal.headers)
        return refusal.status
