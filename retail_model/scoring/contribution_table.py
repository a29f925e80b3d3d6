"""Explanations of linear models and their blends without numpy: contributions precomputed by name.

For a linear model the contribution of feature f to class c is `value_f * w[c, f]`, and every
transformation the explanations apply after that product (centring across classes, the two-class
`[-m/2, m/2]` split, the calibration folds' average, a blend's weights) is linear in the weight
row. So each feature's row of per-class contributions for a value of 1 is computed once, when the
model loads, and explaining a basket is one dictionary lookup and a few multiplications per
feature of the basket, in plain Python: a dozen numpy calls cost more than that for one basket.

`contribution_table(scorer)` builds the table, or returns None where it does not apply (trees,
whose contributions are XGBoost's own; a float32 vectorizer, whose rounding only numpy
reproduces; the pipeline fallback): `retail_model.scoring.explain` covers those.
The results equal `explain.contributions` + `explain.top_k` up to float rounding (~1e-15).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import mul

import numpy as np

from retail_model.scoring.base import ConstantScorer, Scorer
from retail_model.scoring.blend import SoftVoteScorer
from retail_model.scoring.explain import BLEND, CALIBRATED, SOFTMAX, ClassExplanation, fold_averaging
from retail_model.scoring.linear import Affine, CalibratedLinearScorer, LinearScorer, known_rows


_FEW = 8  # up to this many contributions per class, repeated max() is cheaper than sorting


@dataclass(frozen=True)
class ContributionTable:
    """Per feature name, each class's contribution per unit of the feature's value; and the intercepts."""

    rows: dict[str, tuple[float, ...]]
    intercept: tuple[float, ...]
    link: str

    def explain(self, row: Mapping[str, float], k: int) -> list[ClassExplanation]:
        """One basket's classes (the scorer's column order): score, intercept, the k largest by magnitude, the rest."""
        names, values, weights = known_rows(self.rows, row)  # names the model never saw carry no weight
        picks = min(k, len(names))
        classes = []
        # zip(*weights): every class's column of the basket's rows in one C call.
        for base, column in zip(self.intercept, zip(*weights) if weights else repeat(()), strict=False):
            terms = list(map(mul, values, column))
            score = sum(terms, base)  # intercept first, then each feature in order, as the numpy path adds them
            if picks <= _FEW:  # a few passes of max() (in C) beat a sort; the first of equal magnitudes wins
                magnitudes = list(map(abs, terms))
                chosen = []
                for _ in range(picks):
                    position = magnitudes.index(max(magnitudes))
                    magnitudes[position] = -1.0
                    chosen.append((names[position], terms[position]))
            else:
                top = sorted(range(len(terms)), key=list(map(abs, terms)).__getitem__, reverse=True)[:picks]
                chosen = [(names[position], terms[position]) for position in top]
            classes.append(ClassExplanation(score, base, chosen, score - base - sum(term for _, term in chosen)))
        return classes


def contribution_table(scorer: Scorer) -> ContributionTable | None:
    """The table for this scorer, or None when its explanations need the numpy path."""
    if isinstance(scorer, LinearScorer):
        return _linear(scorer)
    if isinstance(scorer, CalibratedLinearScorer):
        return _calibrated(scorer)
    if isinstance(scorer, SoftVoteScorer):
        return _blend(scorer)
    if isinstance(scorer, ConstantScorer):
        scores = np.log(np.clip(scorer.row, 1e-300, None))
        return ContributionTable({}, tuple((scores - scores.mean()).tolist()), SOFTMAX)
    return None


def _by_name(affine: Affine, transform: np.ndarray) -> dict[str, tuple[float, ...]] | None:
    """name -> (weight row @ transform); None for a float32 space (only numpy rounds like the scorer there)."""
    if affine.by_name is None:
        return None
    scaled = affine.weights if affine.space.inverse_scale is None else affine.weights * affine.space.inverse_scale[:, np.newaxis]
    rows = [tuple(row) for row in (scaled @ transform).tolist()]
    return {name: rows[column] for name, column in affine.space.vocabulary.items()}


def _linear(scorer: LinearScorer) -> ContributionTable | None:
    outputs = scorer.affine.weights.shape[1]
    if scorer.link == "logistic":  # two classes: p = sigmoid(m) = softmax([-m/2, m/2])
        transform = np.array([[-0.5, 0.5]])
    else:  # centred across classes: softmax is unchanged, a feature equal under every class adds 0
        transform = np.eye(outputs) - 1.0 / outputs
    rows = _by_name(scorer.affine, transform)
    if rows is None:
        return None
    return ContributionTable(rows, tuple((scorer.affine.intercept @ transform).tolist()), SOFTMAX)


def _calibrated(scorer: CalibratedLinearScorer) -> ContributionTable | None:
    averaging = fold_averaging(scorer)
    rows = _by_name(scorer.affine, averaging)
    if rows is None:
        return None
    return ContributionTable(rows, tuple((scorer.affine.intercept @ averaging).tolist()), CALIBRATED)


def _blend(scorer: SoftVoteScorer) -> ContributionTable | None:
    members = [contribution_table(member) for member in scorer.members]
    if any(member is None for member in members) or len({len(member.intercept) for member in members}) != 1:
        return None
    outputs = len(members[0].intercept)
    rows: dict[str, list[float]] = {}
    intercept = [0.0] * outputs
    for weight, member in zip(scorer.weights, members, strict=True):
        for column, value in enumerate(member.intercept):
            intercept[column] += weight * value
        for name, row in member.rows.items():
            total = rows.setdefault(name, [0.0] * outputs)
            for column, value in enumerate(row):
                total[column] += weight * value
    return ContributionTable({name: tuple(row) for name, row in rows.items()}, tuple(intercept), BLEND)
