"""The plain-Python explanation of one basket on hand-made weights, where every number is known: ties, k beyond
the basket's features, features the model never saw, values other than 1, and two classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.feature_extraction import DictVectorizer

from retail_model.scoring.base import FeatureSpace
from retail_model.scoring.contribution_table import contribution_table, scoring_table
from retail_model.scoring.linear import Affine, LinearScorer

NAMES = ["a", "b", "c", "d"]
# Per feature, its weight for each of 3 classes; already centred (each row sums to 0), so contributions are value x weight.
WEIGHTS = np.array([[1.0, 0.0, -1.0], [-1.0, 0.0, 1.0], [0.5, -1.0, 0.5], [2.0, -1.0, -1.0]])
INTERCEPT = np.array([0.3, -0.1, -0.2])


def _scorer(weights: np.ndarray, intercept: np.ndarray, link: str) -> LinearScorer:
    vectorizer = DictVectorizer().fit([dict.fromkeys(NAMES, 1.0)])
    return LinearScorer(Affine(FeatureSpace(vectorizer), weights, intercept), link)


def _expected(row: dict[str, float], k: int, weights: np.ndarray, intercept: np.ndarray) -> list[tuple[float, list[tuple[str, float]]]]:
    """By hand: each class's score and its k largest contributions, equal magnitudes in the basket's order."""
    known = [(name, value) for name, value in row.items() if name in NAMES]
    out = []
    for column in range(len(intercept)):
        terms = [(name, value * weights[NAMES.index(name), column]) for name, value in known]
        ranked = sorted(range(len(terms)), key=lambda position: (-abs(terms[position][1]), position))
        out.append((intercept[column] + sum(term for _, term in terms), [terms[position] for position in ranked[:k]]))
    return out


def _check(row: dict[str, float], k: int) -> None:
    scorer = _scorer(WEIGHTS, INTERCEPT, "softmax")
    table = contribution_table(scorer)
    joint = scoring_table(scorer, table)
    probabilities, classes = joint.explain(row, k)
    assert probabilities == scorer.probabilities_one(row)  # the answer is the scorer's own
    assert classes == table.explain(row, k)  # the batch path explains the same way
    for cls, (score, top) in zip(classes, _expected(row, k, WEIGHTS, INTERCEPT), strict=True):
        assert cls.score == pytest.approx(score, abs=1e-12)
        assert cls.top == [(name, pytest.approx(term, abs=1e-12)) for name, term in top]
        assert cls.intercept + sum(term for _, term in cls.top) + cls.other == pytest.approx(cls.score, abs=1e-12)


def test_equal_magnitudes_are_listed_in_the_baskets_order():
    _check({"a": 1.0, "b": 1.0, "c": 1.0}, 1)  # High: a and b both 1 in magnitude: a, the first, is listed
    _check({"b": 1.0, "a": 1.0, "c": 1.0}, 2)  # b first now, then a
    scorer = _scorer(WEIGHTS, INTERCEPT, "softmax")
    [high, medium, low] = contribution_table(scorer).explain({"b": 1.0, "a": 1.0, "c": 1.0}, 2)
    assert abs(high.top[0][1]) == abs(high.top[1][1])  # a true tie after centring
    assert [name for name, _ in high.top] == ["b", "a"] and [name for name, _ in medium.top] == ["c", "b"]


def test_k_beyond_the_baskets_features_lists_them_all_and_nothing_is_left_over():
    _check({"a": 1.0, "c": 1.0}, 50)
    [high, _, _] = contribution_table(_scorer(WEIGHTS, INTERCEPT, "softmax")).explain({"a": 1.0, "c": 1.0}, 50)
    assert len(high.top) == 2 and high.other == pytest.approx(0.0, abs=1e-12)


def test_features_the_model_never_saw_carry_nothing():
    _check({"unseen": 5.0, "a": 1.0, "other unseen": 1.0}, 3)
    scorer = _scorer(WEIGHTS, INTERCEPT, "softmax")
    probabilities, classes = scoring_table(scorer, contribution_table(scorer)).explain({"unseen": 1.0}, 3)
    assert probabilities == scorer.probabilities_one({"unseen": 1.0})
    assert all(cls.score == cls.intercept and cls.top == [] and cls.other == 0.0 for cls in classes)
    assert [cls.intercept for cls in classes] == pytest.approx(INTERCEPT.tolist(), abs=1e-12)  # already centred


@pytest.mark.parametrize("row", [{"a": 1.0, "d": 0.25, "b": -3.0, "c": 0.0}, {"a": 2.5, "b": 0.5, "c": 3.0, "d": 1.5}])
def test_values_other_than_one_are_multiplied_whether_few_or_most_are(row):
    _check(row, 3)  # the first: a few scaled values among unit ones (and a 0, which adds 0); the second: all scaled


def test_two_classes_split_the_margin_and_answer_as_the_scorer():
    weights, intercept = np.array([[1.0], [-2.0], [0.5], [0.0]]), np.array([0.4])
    scorer = _scorer(weights, intercept, "logistic")
    table = contribution_table(scorer)
    row = {"a": 1.0, "b": 1.0, "c": 2.0, "d": 1.0}
    probabilities, [negative, positive] = scoring_table(scorer, table).explain(row, 2)
    assert probabilities == scorer.probabilities_one(row)
    margin = 0.4 + 1.0 - 2.0 + 1.0
    assert (negative.score, positive.score) == (pytest.approx(-margin / 2), pytest.approx(margin / 2))
    assert positive.top == [("b", -1.0), ("a", 0.5)]  # c: 2 x 0.5 x 0.5 = 0.5 too, after a in the basket
    assert probabilities[1] == pytest.approx(1 / (1 + math.exp(-margin)))
