"""When the served model counts as drifted or degraded: the thresholds and the verdicts.

Built once from the settings (RETAIL_DRIFT_*, RETAIL_LIVE_*, RETAIL_MONITOR_MIN_ROWS) by the
resources module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retail_assets.monitoring.drift import FeatureDrift
from retail_model.settings import ConfigurationError

ERROR, WARN = "ERROR", "WARN"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    severity: str  # ERROR | WARN: how bad a failure is (a pass keeps ERROR, Dagster's default)
    judged: bool  # False when there was too little data to judge: then it passes, and says so
    summary: str


@dataclass(frozen=True)
class MonitoringPolicy:
    drift_warn_psi: float = 0.1
    drift_fail_psi: float = 0.25
    drift_window_days: int = 7
    live_min_macro_f1: float = 0.70
    live_window_weeks: int = 4
    min_rows: int = 500  # fewer predictions (or labelled baskets) than this and nothing is judged

    def __post_init__(self) -> None:
        if self.drift_warn_psi > self.drift_fail_psi:
            raise ConfigurationError(
                f"RETAIL_DRIFT_WARN_PSI ({self.drift_warn_psi}) is above RETAIL_DRIFT_FAIL_PSI ({self.drift_fail_psi}): "
                "set the warning threshold at or below the failure threshold"
            )

    def judge_drift(self, drifts: Sequence[FeatureDrift], predictions: int) -> Verdict:
        """ERROR if any feature's PSI exceeds the failure threshold, WARN above the warning one."""
        if predictions < self.min_rows:
            return Verdict(
                True, ERROR, False,
                f"not judged: {predictions} predictions in the last {self.drift_window_days} days, fewer than "
                f"RETAIL_MONITOR_MIN_ROWS={self.min_rows} (a PSI on so few baskets is mostly noise)",
            )
        failing = [d for d in drifts if d.psi > self.drift_fail_psi]
        warning = [d for d in drifts if self.drift_warn_psi < d.psi <= self.drift_fail_psi]
        if failing:
            return Verdict(False, ERROR, True, f"major shift (PSI > {self.drift_fail_psi}) in {_names(failing)}")
        if warning:
            return Verdict(False, WARN, True, f"moderate shift (PSI > {self.drift_warn_psi}) in {_names(warning)}")
        top = max(drifts, key=lambda d: d.psi, default=None)
        worst = f"; largest PSI {top.psi:.3f} ({top.feature})" if top else ""
        return Verdict(True, ERROR, True, f"every feature's PSI is at most {self.drift_warn_psi}{worst}")

    def judge_accuracy(self, macro_f1: float | None, labelled: int, model_version: str) -> Verdict:
        """ERROR when the serving model's macro-F1 on its latest labelled weeks is below the floor."""
        if macro_f1 is None or labelled < self.min_rows:
            return Verdict(
                True, ERROR, False,
                f"not judged: {labelled} labelled predictions of model {model_version} in its latest "
                f"{self.live_window_weeks} labelled weeks, fewer than RETAIL_MONITOR_MIN_ROWS={self.min_rows}",
            )
        if macro_f1 < self.live_min_macro_f1:
            return Verdict(
                False, ERROR, True,
                f"model {model_version}: live macro-F1 {macro_f1:.3f} on {labelled} labelled baskets is below the floor {self.live_min_macro_f1}",
            )
        return Verdict(True, ERROR, True, f"model {model_version}: live macro-F1 {macro_f1:.3f} on {labelled} labelled baskets (floor {self.live_min_macro_f1})")


def _names(drifts: Sequence[FeatureDrift]) -> str:
    return ", ".join(f"{d.feature} ({d.psi:.2f}: {d.largest_shift})" for d in sorted(drifts, key=lambda d: -d.psi)[:5])
