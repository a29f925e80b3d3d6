"""Prometheus metrics for /metrics: traffic, latency, predictions, the model (the prediction log adds its own).

Each app has its own registry (two apps in one process, as in the tests, never mix counts).
Routes are labelled by their template, and any path the API does not serve is `unmatched`, so a
scanner cannot grow the label set. Run one uvicorn worker per pod (scale with replicas): each
process counts only its own requests.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import choose_encoder

from retail_model.artifact import PriceSensitivityModel

# Scoring takes tens of microseconds and a batch tens of milliseconds: resolve both ends.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNMATCHED = "unmatched"


class ServiceMetrics:
    def __init__(self, routes: frozenset[str]) -> None:
        self.routes = routes
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "retail_api_requests", "HTTP requests answered, by route and status.", ["route", "status"], registry=registry
        )
        self.latency = Histogram(
            "retail_api_request_duration_seconds",
            "Time from the request reaching the app to its answer, by route and status.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "retail_api_predictions", "Baskets scored, by predicted price sensitivity.", ["price_sensitivity"], registry=registry
        )
        self.model = Info("retail_api_model", "The model version serving.", registry=registry)
        self.model_swaps = Counter(
            "retail_api_model_swaps", "Models swapped in while serving (hot swaps; the first load is not one).", registry=registry
        )
        self.model_load_failures = Counter(
            "retail_api_model_load_failures",
            "Failed attempts to load the model to serve (could not fetch, load or score it, or the pin is not Approved); each is retried.",
            registry=registry,
        )
        self.model_serving = Gauge(
            "retail_api_model_serving", "1 while a model serves, 0 while none does (predictions answer 503).", registry=registry
        )
        # The prediction log's counters are its own collector (retail_api.prediction_log): part are kept by its shipper process.
        self._per_route: dict[tuple[str, int], tuple] = {}
        self._per_class = {name: self.predictions.labels(name) for name in ("High", "Medium", "Low")}

    def observe(self, path: str, status: int, seconds: float) -> None:
        key = (path, status)
        children = self._per_route.get(key)
        if children is None:  # labels() takes a lock and builds a tuple: do it once per route and status
            route = path if path in self.routes else UNMATCHED
            children = (self.requests.labels(route, str(status)), self.latency.labels(route, str(status)))
            if route != UNMATCHED:
                self._per_route[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_predictions(self, codes_by_class: dict[str, int]) -> None:
        for name, count in codes_by_class.items():
            self._per_class[name].inc(count)

    def serving(self, model: PriceSensitivityModel, swapped: bool, pinned: bool = False) -> None:
        self.model.info(
            {
                "version": model.version,
                "candidate": str(model.metadata.get("candidate", "")),
                "feature_version": model.feature_version,
                "scorer": model.scorer.kind,
                "pinned": "true" if pinned else "false",
            }
        )
        self.model_serving.set(1)
        if swapped:
            self.model_swaps.inc()

    def not_serving(self) -> None:
        self.model.info({"version": "", "candidate": "", "feature_version": "", "scorer": "", "pinned": ""})
        self.model_serving.set(0)

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The metrics in the format the scraper asks for (Prometheus text, or OpenMetrics), and its type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
