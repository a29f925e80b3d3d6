"""The promotion gate: what a trained model must reach on its held-out test weeks to be registered
Approved (or PendingManualApproval, when a person approves), and otherwise Rejected with why.

Four criteria, each reported with its figure and its threshold:
- the test weeks all come after the training weeks (the score is an honest forecast);
- quality floors on the test weeks: accuracy, macro-F1, and every class's precision;
- champion/challenger: not worse than the model serving now, scored on the *same* test weeks,
  by more than `champion_margin` macro-F1. Skipped when nothing serves, or when the registry
  records that the serving model was built for another feature version; when the serving model
  cannot be scored for any other reason (a missing or corrupt artefact), it fails closed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from retail_model.registry import APPROVED, PENDING, REJECTED


@dataclass(frozen=True)
class ChampionScore:
    """The serving model scored on the challenger's test channel (see champion.py)."""

    version: str
    macro_f1: float | None  # None: it could not be scored, see `note`
    note: str = ""
    feature_version_changed: bool = False  # the registry says it serves other features: no comparison is due


@dataclass(frozen=True)
class GateResult:
    passed: bool
    criteria: list[dict] = field(default_factory=list)  # {name, passed, value, threshold, detail}
    champion: str | None = None  # the version serving when it was judged (None: nothing served)

    @property
    def reasons(self) -> list[str]:
        return [c["detail"] for c in self.criteria if not c["passed"]]

    def summary(self) -> str:
        if self.passed:
            return "passed the promotion gate: " + "; ".join(c["detail"] for c in self.criteria)
        return "failed the promotion gate: " + "; ".join(self.reasons)

    def to_dict(self) -> dict:
        return asdict(self) | {"summary": self.summary()}


@dataclass(frozen=True)
class PromotionGate:
    min_accuracy: float = 0.75
    min_macro_f1: float = 0.70
    min_class_precision: float = 0.65
    champion_margin: float = 0.01  # how much macro-F1 a challenger may lose against the serving model
    auto_approve: bool = True  # a model that passes is registered Approved (else PendingManualApproval)

    def evaluate(self, metrics: dict, champion: ChampionScore | None) -> GateResult:
        criteria = [self._later_weeks(metrics["split"])]
        criteria.append(_at_least("accuracy", metrics["accuracy"], self.min_accuracy))
        criteria.append(_at_least("macro_f1", metrics["macro_f1"], self.min_macro_f1))
        for name, scores in metrics["per_class"].items():
            criteria.append(_at_least(f"precision_{name}", scores["precision"], self.min_class_precision))
        criteria.append(self._champion(metrics["macro_f1"], champion))
        return GateResult(all(c["passed"] for c in criteria), criteria, champion.version if champion is not None else None)

    def status_for(self, result: GateResult) -> str:
        if not result.passed:
            return REJECTED
        return APPROVED if self.auto_approve else PENDING

    def _later_weeks(self, split: dict) -> dict:
        train, test = split.get("train_weeks", []), split.get("test_weeks", [])
        passed = bool(train) and bool(test) and max(train) < min(test)
        detail = f"test weeks {min(test, default='-')}.. after train weeks ..{max(train, default='-')}"
        return {"name": "tested_on_later_weeks", "passed": passed, "value": None, "threshold": None,
                "detail": detail if passed else f"not an honest forecast: {detail} overlap"}

    def _champion(self, challenger: float, champion: ChampionScore | None) -> dict:
        if champion is None or champion.feature_version_changed:
            note = champion.note if champion is not None else "no model serves yet"
            return {"name": "champion_challenger", "passed": True, "value": challenger, "threshold": None, "detail": f"no champion to beat ({note})"}
        if champion.macro_f1 is None:
            detail = (
                f"{champion.note}; without a champion score the challenger cannot be judged (fail closed): "
                f"repair or reject {champion.version} (retail-mlops models reject), then retrain"
            )
            return {"name": "champion_challenger", "passed": False, "value": challenger, "threshold": None, "detail": detail}
        floor = champion.macro_f1 - self.champion_margin
        passed = challenger >= floor
        versus = f"serving {champion.version} scores {champion.macro_f1:.4f} on the same test weeks"
        if passed:
            detail = f"macro-F1 {challenger:.4f}; {versus} (margin {self.champion_margin:g})"
        else:
            detail = f"macro-F1 {challenger:.4f} is more than {self.champion_margin:g} below the serving model: {versus}"
        return {"name": "champion_challenger", "passed": passed, "value": challenger, "threshold": round(floor, 6), "detail": detail}


def _at_least(name: str, value: float, floor: float) -> dict:
    passed = float(value) >= floor
    sign = ">=" if passed else "<"
    return {"name": name, "passed": passed, "value": float(value), "threshold": floor, "detail": f"{name} {float(value):.4f} {sign} {floor:g}"}
