"""The `explain` field of a prediction request: the model's explanations as the answer's structs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import starmap

from retail_api.asgi import Refusal
from retail_api.errors import validation_error_body
from retail_api.schemas import ClassExplanation, Contribution, Explanation
from retail_model.artifact import PriceSensitivityModel
from retail_model.scoring.explain import ClassExplanation as ModelClassExplanation
from retail_model.scoring.explain import ExplanationUnavailableError


class _Unexplainable(ValueError):
    """Carries the message into the same 422 body msgspec's validation errors get."""


def explain(model: PriceSensitivityModel, rows: Sequence[Mapping[str, float]], asked: Sequence[float], where: str) -> list[Explanation | None]:
    """Each row's explanation with its own k contributions per class (None where k is 0)."""
    ks = [int(k) for k in asked]  # validated whole numbers, possibly spelt 3.0
    answers: list[Explanation | None] = [None] * len(rows)
    wanted = [position for position, k in enumerate(ks) if k]
    if not wanted:
        return answers
    try:
        for k in sorted({ks[position] for position in wanted}):  # one pass per distinct k (usually one)
            positions = [position for position in wanted if ks[position] == k]
            link, explained = model.explain([rows[position] for position in positions], k)
            for position, classes in zip(positions, explained, strict=True):
                answers[position] = _explanation(link, classes)
    except ExplanationUnavailableError as error:
        raise _refusal(error, where) from None
    return answers


def scored_and_explained(model: PriceSensitivityModel, row: Mapping[str, float], asked: float, where: str) -> tuple[str, list[float], Explanation]:
    """One basket's code, probabilities (as `model.score`) and explanation (as `explain`), its features looked up once."""
    try:
        code, probabilities, link, classes = model.score_explained(row, int(asked))
    except ExplanationUnavailableError as error:
        raise _refusal(error, where) from None
    return code, probabilities, _explanation(link, classes)


def _explanation(link: str, classes: Mapping[str, ModelClassExplanation]) -> Explanation:
    return Explanation(
        link, {name: ClassExplanation(score, intercept, list(starmap(Contribution, top)), other)
               for name, (score, intercept, top, other) in classes.items()},
    )  # fmt: skip


def _refusal(error: ExplanationUnavailableError, where: str) -> Refusal:
    return Refusal(422, validation_error_body(_Unexplainable(f"{error} - at `{where}`")))
