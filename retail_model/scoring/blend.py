"""A soft vote (retail_model.blend.SoftVote) compiled: its members' scorers, their answers weighted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from retail_model.scoring.base import FeatureRows, Scorer, normalised


class SoftVoteScorer(Scorer):
    """sum of weight_i * member_i's probabilities, each member compiled over the same features."""

    kind = "soft_vote"

    def __init__(self, members: Sequence[Scorer], weights: Sequence[float]) -> None:
        if len(members) != len(weights) or not members:
            raise ValueError(f"one weight per member scorer: {len(members)} members, {len(weights)} weights")
        self.members = list(members)
        self.weights = [float(w) for w in weights]  # already scaled to sum to 1 by SoftVote

    def probabilities(self, rows: FeatureRows) -> np.ndarray:
        total = sum(weight * member.probabilities(rows) for weight, member in zip(self.weights, self.members, strict=True))
        return normalised(total)

    def probabilities_one(self, row: Mapping[str, float]) -> list[float]:
        total: list[float] | None = None
        for weight, member in zip(self.weights, self.members, strict=True):
            answer = member.probabilities_one(row)
            total = [weight * p for p in answer] if total is None else [t + weight * p for t, p in zip(total, answer, strict=True)]
        norm = sum(total)
        return [t / norm for t in total]

    def __repr__(self) -> str:
        terms = " + ".join(f"{w:g} * {m!r}" for w, m in zip(self.weights, self.members, strict=True))
        return f"SoftVoteScorer({terms})"
