"""The promotion gate: what a trained model must reach on its held-out test weeks to be Approved."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromotionGate:
    min_macro_f1: float = 0.6
    auto_approve: bool = True  # a model that passes is registered Approved (else PendingManualApproval)

    def passes(self, metrics: dict) -> bool:
        return float(metrics["macro_f1"]) >= self.min_macro_f1
