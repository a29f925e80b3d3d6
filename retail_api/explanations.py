"""The `explain` field of a prediction request: the model's explanations as the answer's structs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import starmap

from retail_api.asgi import Refusal
from retail_api.errors import validation_error_body
from retail_api.schemas import ClassExplanation, Contribution, Explanation
from retail_model.artifact import PriceSensitivityModel
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
                answers[position] = Explanation(
                    link, {name: ClassExplanation(score, intercept, list(starmap(Contribution, top)), other)
                           for name, (score, intercept, top, other) in classes.items()},
                )  # fmt: skip
    except ExplanationUnavailableError as error:
        refusal = _Unexplainable(f"{error} - at `{where}`")
        raise Refusal(422, validation_error_body(refusal)) from None
    return answers
