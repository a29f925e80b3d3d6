"""The smoke prediction through the API's Service: real baskets, answered by the version just rolled out.

The model was smoke-tested before the rollout (`smoke.answers_real_baskets`); this checks the
deployed service: the pods load it, authenticate the call, and answer `POST /v1/predict/batch`
with that very version and a probability distribution for every basket.
"""

from __future__ import annotations

import json

from retail_assets.release.cluster import Cluster, ClusterError
from retail_model.basket import Basket

BATCH_PATH = "/v1/predict/batch"


class ServiceSmokeFailed(Exception):
    """The Service did not answer as the released version should; the message says how."""


def request_body(baskets: list[Basket]) -> dict:
    """A batch request as a checkout system sends it (`retail_api.schemas.BatchIn`)."""
    out = []
    for number, basket in enumerate(baskets):
        body = {
            "basket_id": f"release-smoke-{number}",
            "shop_date": basket.shop_date.isoformat(),
            "shop_hour": basket.shop_hour,
            "store_code": basket.store_code,
            "store_format": basket.store_format,
            "store_region": basket.store_region,
            "basket_size": basket.basket_size,
            "basket_type": basket.basket_type,
            "basket_dominant_mission": basket.basket_dominant_mission,
            "lines": [
                {key: value for key, value in (
                    ("prod_code", line.prod_code), ("prod_code_10", line.prod_code_10), ("prod_code_20", line.prod_code_20),
                    ("prod_code_30", line.prod_code_30), ("prod_code_40", line.prod_code_40),
                    ("quantity", line.quantity), ("spend", line.spend),
                ) if value is not None}
                for line in basket.lines
            ],
        }
        if basket.customer is not None:
            customer = basket.customer
            body["customer"] = {k: v for k, v in (("code", customer.code), ("price_sensitivity", customer.price_sensitivity),
                                                  ("lifestage", customer.lifestage)) if v is not None}
        out.append(body)
    return {"baskets": out}


def predict_through_service(cluster: Cluster, service_url: str, api_key: str | None, baskets: list[Basket], version: str,
                            timeout_seconds: float) -> int:
    """POST the baskets to the Service; the number answered, or ServiceSmokeFailed."""
    if not baskets:
        raise ServiceSmokeFailed("there are no gold baskets to send to the Service")
    url = service_url.rstrip("/") + BATCH_PATH
    headers = {"content-type": "application/json"} | ({"X-API-Key": api_key} if api_key else {})
    try:
        answer = cluster.post(url, json.dumps(request_body(baskets)).encode(), headers, timeout_seconds)
    except ClusterError as error:
        raise ServiceSmokeFailed(f"{url} did not answer: {error}") from error
    if answer.status != 200:
        raise ServiceSmokeFailed(f"{url} answered HTTP {answer.status}: {answer.body[:300].decode(errors='replace')}")
    try:
        payload = json.loads(answer.body)
        served, predictions = payload["model_version"], payload["predictions"]
    except (ValueError, KeyError, TypeError) as error:
        raise ServiceSmokeFailed(f"{url} answered something that is not a batch prediction: {answer.body[:300]!r}") from error
    if served != version:
        raise ServiceSmokeFailed(f"{url} answered with model {served}, not {version}")
    bad = [p for p in predictions if abs(sum(p.get("probabilities", {}).values()) - 1.0) > 1e-6]
    if len(predictions) != len(baskets) or bad:
        raise ServiceSmokeFailed(f"{url} answered {len(predictions)} of {len(baskets)} baskets, {len(bad)} without a probability distribution")
    return len(predictions)
