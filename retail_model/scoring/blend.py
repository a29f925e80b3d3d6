"""A soft vote (retail_model.blend.SoftVote) compiled: its members' scorers, their answers weighted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from retail_model.features.columns import Parts
from retail_model.scoring.base import FeatureRows, Scorer, normalised
from retail_model.scoring.linear import Affine, LinearScorer


class SoftVoteScorer(Scorer):
    """sum of weight_i * member_i's probabilities, each member compiled over the same features."""

    kind = "soft_vote"

    def __init__(self, members: Sequence[Scorer], weights: Sequence[float]) -> None:
        if len(members) != len(weights) or not members:
            raise ValueError(f"one weight per member scorer: {len(members)} members, {len(weights)} weights")
        self.members = list(members)
        self.weights = [float(w) for w in weights]  # already scaled to sum to 1 by SoftVote
        # Members that all read one feature space are scored from one gather (the compiler gives
        # them the same space; a constant member has none, and then each reads the dicts).
        space = self.members[0].space
        self.space = space if space is not None and all(member.space is space for member in self.members) else None
        self.fused = _fused(self.members)
        if self.fused is not None:
            bounds = np.cumsum([0] + [member.affine.weights.shape[1] for member in self.members]).tolist()
            self._slices = list(zip(bounds[:-1], bounds[1:], strict=True))  # each member's margin columns

    def probabilities(self, rows: FeatureRows) -> np.ndarray:
        if self.space is not None:
            return self.probabilities_of(self.space.gather(rows))
        total = sum(weight * member.probabilities(rows) for weight, member in zip(self.weights, self.members, strict=True))
        return normalised(total)

    def probabilities_of(self, parts: Parts) -> np.ndarray:
        if self.space is None:
            return super().probabilities_of(parts)  # raises: the members need the dicts
        if self.fused is not None:  # one product for every member, then each member's link
            margins, total = self.fused.margins_of(parts), 0.0
            for weight, member, (start, end) in zip(self.weights, self.members, self._slices, strict=True):
                total = total + weight * member.link_rows(margins[:, start:end])
            return normalised(total)
        total = sum(weight * member.probabilities_of(parts) for weight, member in zip(self.weights, self.members, strict=True))
        return normalised(total)

    def probabilities_one(self, row: Mapping[str, float]) -> list[float]:
        margins = self.fused.margins_one(row) if self.fused is not None else None
        if margins is not None:
            return self.link_one(margins)
        total: list[float] | None = None
        for weight, member in zip(self.weights, self.members, strict=True):
            answer = member.probabilities_one(row)
            total = [weight * p for p in answer] if total is None else [t + weight * p for t, p in zip(total, answer, strict=True)]
        norm = sum(total)
        return [t / norm for t in total]

    def link_one(self, margins: list[float]) -> list[float]:
        """One row's probabilities from its fused margins (every member's, side by side), in plain Python."""
        total = None
        for weight, member, (start, end) in zip(self.weights, self.members, self._slices, strict=True):
            answer = member.link_one(margins[start:end])
            total = [weight * p for p in answer] if total is None else [t + weight * p for t, p in zip(total, answer, strict=True)]
        norm = sum(total)
        return [t / norm for t in total]

    def __repr__(self) -> str:
        terms = " + ".join(f"{w:g} * {m!r}" for w, m in zip(self.weights, self.members, strict=True))
        return f"SoftVoteScorer({terms})"


def _fused(members: Sequence[Scorer]) -> Affine | None:
    """Linear members over one feature space as one affine map (their weight columns side by side), else None."""
    if not all(type(member) is LinearScorer for member in members):
        return None
    space = members[0].affine.space
    if any(member.affine.space is not space for member in members):
        return None
    weights = np.hstack([member.affine.weights for member in members])
    return Affine(space, weights, np.concatenate([member.affine.intercept for member in members]))
