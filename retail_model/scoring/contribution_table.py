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
`scoring_table(scorer, table)` joins the table with the scorer's own one-basket weights, so a
basket that is both scored and explained (the API's `"explain": k`) looks its features up once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import mul

import numpy as np

from retail_model.scoring.base import ConstantScorer, Scorer
from retail_model.scoring.blend import SoftVoteScorer
from retail_model.scoring.explain import BLEND, CALIBRATED, SOFTMAX, ClassExplanation, fold_averaging
from retail_model.scoring.linear import Affine, CalibratedLinearScorer, LinearScorer, known_rows


@dataclass(frozen=True)
class ContributionTable:
    """Per feature name, each class's contribution per unit of the feature's value, then their magnitudes; and the intercepts."""

    rows: dict[str, tuple[float, ...]]  # (contribution per class..., |contribution| per class...)
    intercept: tuple[float, ...]
    link: str

    def explain(self, row: Mapping[str, float], k: int) -> list[ClassExplanation]:
        """One basket's classes (the scorer's column order): score, intercept, the k largest by magnitude, the rest."""
        names, values, found = known_rows(self.rows, row)  # names the model never saw carry no weight
        return classes_of(self.intercept, names, values, list(zip(*found)), k)


@dataclass(frozen=True)
class ScoringTable:
    """One lookup per feature of a basket for both its answer and its explanation.

    Explaining a basket the API also scores would look every feature up twice (the scorer's
    weights, the table's contributions), and the second set of lookups, each a dict entry, a
    tuple and its floats scattered in memory, costs more than the arithmetic. Here each name
    maps to its table row followed by the scorer's own weight row, so the margins are the very
    sums the scorer computes (the same numbers in the same order: the same probabilities).
    """

    rows: dict[str, tuple[float, ...]]  # ContributionTable row + the scorer's margin weights
    table: ContributionTable
    margin_intercept: tuple[float, ...]
    link_one: Callable[[list[float]], list[float]]  # the scorer's margins -> probabilities

    def explain(self, row: Mapping[str, float], k: int) -> tuple[list[float], list[ClassExplanation]]:
        """The basket's probabilities (as `scorer.probabilities_one`) and its classes (as `ContributionTable.explain`)."""
        names, values, found = known_rows(self.rows, row)
        if not found:
            return self.link_one(list(self.margin_intercept)), classes_of(self.table.intercept, names, values, [], k)
        columns = list(zip(*found))
        width = 2 * len(self.table.intercept)
        scaled = _scaled(values)
        # value x weight for the few scaled features, the weight itself for the rest (x 1.0 is exact):
        # the very terms, in the same order, that the scorer's sum(map(mul, ...)) adds.
        margins = [sum(_terms(column, values, scaled), start) for start, column in zip(self.margin_intercept, columns[width:], strict=True)]
        return self.link_one(margins), classes_of(self.table.intercept, names, values, columns[:width], k, scaled)


def classes_of(
    intercept: tuple[float, ...], names: list[str], values: list[float], columns: list[tuple[float, ...]], k: int, scaled: list[int] | None = None
) -> list[ClassExplanation]:
    """Each class's explanation from the basket's columns: per class its contributions per unit, then per class their magnitudes."""
    if not names:
        return [ClassExplanation(base, base, [], 0.0) for base in intercept]
    if scaled is None:
        scaled = _scaled(values)
    picks = min(k, len(names))
    classes = []
    for base, column, sizes in zip(intercept, columns, columns[len(intercept) :], strict=False):
        if scaled is _ALL:
            terms = list(map(mul, values, column))
            magnitudes = list(map(abs, terms))
        elif scaled:
            terms, magnitudes = list(column), list(sizes)
            for position in scaled:
                term = terms[position] = values[position] * column[position]
                magnitudes[position] = abs(term)
        else:
            terms, magnitudes = column, sizes
        score = sum(terms, base)  # intercept first, then each feature in order, as the numpy path adds them
        chosen, total = [], 0.0
        # The k largest magnitudes by one sort (C compares floats fast there), then where each is:
        # equal magnitudes are taken in the basket's order, the first of them first.
        start, previous = 0, None
        for magnitude in sorted(magnitudes, reverse=True)[:picks]:
            position = magnitudes.index(magnitude, start if magnitude == previous else 0)
            start, previous = position + 1, magnitude
            chosen.append((names[position], term := terms[position]))
            total += term
        classes.append(ClassExplanation(score, base, chosen, score - base - total))
    return classes


_ALL: list[int] = []  # _scaled's answer when most values are not 1: every column is multiplied


def _scaled(values: list[float]) -> list[int]:
    """Where the values other than 1 are: most features are indicators (1), whose contribution is the
    table's entry itself and their magnitude the precomputed one; only the rest (the basket's
    measures) need multiplying. _ALL when they are most of them (one multiplication in C per column is cheaper)."""
    scaled = [position for position, value in enumerate(values) if value != 1.0]
    return _ALL if len(scaled) * 4 > len(values) else scaled


def _terms(column: tuple[float, ...], values: list[float], scaled: list[int]) -> list[float] | tuple[float, ...]:
    if scaled is _ALL:
        return list(map(mul, values, column))
    if not scaled:
        return column
    terms = list(column)
    for position in scaled:
        terms[position] = values[position] * column[position]
    return terms


def contribution_table(scorer: Scorer) -> ContributionTable | None:
    """The table for this scorer, or None when its explanations need the numpy path."""
    built = _contributions(scorer)
    if built is None:
        return None
    rows, intercept, link = built
    return ContributionTable({name: row + tuple(map(abs, row)) for name, row in rows.items()}, intercept, link)


def scoring_table(scorer: Scorer, table: ContributionTable | None) -> ScoringTable | None:
    """The table joined with the scorer's one-basket weights, where the scorer answers one basket from them."""
    if table is None:
        return None
    if isinstance(scorer, LinearScorer):
        affine, link_one = scorer.affine, scorer.link_one
    elif isinstance(scorer, SoftVoteScorer) and scorer.fused is not None:
        affine, link_one = scorer.fused, scorer.link_one
    else:
        return None
    if affine.by_name is None or affine.by_name.keys() != table.rows.keys():
        return None
    rows = {name: row + affine.by_name[name] for name, row in table.rows.items()}
    return ScoringTable(rows, table, tuple(affine.intercept.tolist()), link_one)


_Built = tuple[dict[str, tuple[float, ...]], tuple[float, ...], str]  # contributions per unit by name, intercept, link


def _contributions(scorer: Scorer) -> _Built | None:
    if isinstance(scorer, LinearScorer):
        return _linear(scorer)
    if isinstance(scorer, CalibratedLinearScorer):
        return _calibrated(scorer)
    if isinstance(scorer, SoftVoteScorer):
        return _blend(scorer)
    if isinstance(scorer, ConstantScorer):
        scores = np.log(np.clip(scorer.row, 1e-300, None))
        return {}, tuple((scores - scores.mean()).tolist()), SOFTMAX
    return None


def _by_name(affine: Affine, transform: np.ndarray) -> dict[str, tuple[float, ...]] | None:
    """name -> (weight row @ transform); None for a float32 space (only numpy rounds like the scorer there)."""
    if affine.by_name is None:
        return None
    scaled = affine.weights if affine.space.inverse_scale is None else affine.weights * affine.space.inverse_scale[:, np.newaxis]
    rows = [tuple(row) for row in (scaled @ transform).tolist()]
    return {name: rows[column] for name, column in affine.space.vocabulary.items()}


def _linear(scorer: LinearScorer) -> _Built | None:
    outputs = scorer.affine.weights.shape[1]
    if scorer.link == "logistic":  # two classes: p = sigmoid(m) = softmax([-m/2, m/2])
        transform = np.array([[-0.5, 0.5]])
    else:  # centred across classes: softmax is unchanged, a feature equal under every class adds 0
        transform = np.eye(outputs) - 1.0 / outputs
    rows = _by_name(scorer.affine, transform)
    if rows is None:
        return None
    return rows, tuple((scorer.affine.intercept @ transform).tolist()), SOFTMAX


def _calibrated(scorer: CalibratedLinearScorer) -> _Built | None:
    averaging = fold_averaging(scorer)
    rows = _by_name(scorer.affine, averaging)
    if rows is None:
        return None
    return rows, tuple((scorer.affine.intercept @ averaging).tolist()), CALIBRATED


def _blend(scorer: SoftVoteScorer) -> _Built | None:
    members = [_contributions(member) for member in scorer.members]
    if any(member is None for member in members) or len({len(intercept) for _, intercept, _ in members}) != 1:
        return None
    outputs = len(members[0][1])
    rows: dict[str, list[float]] = {}
    intercept = [0.0] * outputs
    for weight, (member_rows, member_intercept, _) in zip(scorer.weights, members, strict=True):
        for column, value in enumerate(member_intercept):
            intercept[column] += weight * value
        for name, row in member_rows.items():
            total = rows.setdefault(name, [0.0] * outputs)
            for column, value in enumerate(row):
                total[column] += weight * value
    return {name: tuple(row) for name, row in rows.items()}, tuple(intercept), BLEND
