"""The compiled scorers answer exactly what the trained pipelines answer, for every candidate type.

Each candidate that can win training is fitted on earlier weeks of synthetic baskets and compared
with its compiled scorer on later, held-out weeks: the same class for every basket and every
probability within 1e-6, through both paths (a batch of rows, and one row at a time).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.helpers.scoring_data import CANDIDATES, fit_pipeline, train_and_held_out
from sklearn.feature_extraction import DictVectorizer
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from retail_model import basket_features
from retail_model.artifact import ModelLoadError, PriceSensitivityModel
from retail_model.blend import SoftVote
from retail_model.scoring import PipelineScorer, compile_scorer, verified_scorer

TOLERANCE = 1e-6
EXPECTED_KIND = {
    "logistic_regression": "linear",
    "logistic_regression_unscaled": "linear",
    "xgboost": "trees",
    "multinomial_nb": "linear",
    "complement_nb": "linear",
    "calibrated_linear_svc": "calibrated_linear",
    "calibrated_linear_svc_isotonic": "calibrated_linear",
    "dummy_prior": "constant",
    "soft_vote": "soft_vote",
    "soft_vote_with_trees": "soft_vote",
}


@pytest.fixture(scope="module")
def baskets():
    train, held_out = train_and_held_out()
    rows = [basket_features(item.basket) for item in held_out if item.code != "XX"]
    return train, rows


@pytest.fixture(scope="module", params=[("LA", "MM", "UM"), ("LA", "UM")], ids=["3 classes", "2 classes"])
def classes(request):
    return request.param


@pytest.mark.parametrize("name", CANDIDATES)
def test_compiled_scorer_matches_the_pipeline_on_held_out_baskets(name, baskets, classes):
    train, rows = baskets
    model = fit_pipeline(name, train, classes)
    scorer = compile_scorer(model.pipeline)
    assert scorer.kind == EXPECTED_KIND[name]
    expected = np.asarray(model.pipeline.predict_proba(rows), dtype=np.float64)
    expected /= expected.sum(axis=1, keepdims=True)
    batch = scorer.probabilities(rows)
    one_by_one = np.array([scorer.probabilities_one(row) for row in rows])
    for actual in (batch, one_by_one):
        assert actual.shape == expected.shape
        assert np.max(np.abs(actual - expected)) <= TOLERANCE
        assert np.array_equal(actual.argmax(axis=1), expected.argmax(axis=1))
    if name.startswith("soft_vote"):  # linear members share one gather and one product; trees keep their own path
        assert (scorer.fused is not None) == (name == "soft_vote")


@pytest.mark.parametrize("name", ["logistic_regression", "xgboost", "calibrated_linear_svc", "soft_vote"])
def test_the_serving_path_gives_the_answers_of_predict_dicts(name, baskets, classes):
    """model.score (what the API calls) against model.predict_dicts (what training reports)."""
    train, rows = baskets
    model = fit_pipeline(name, train, classes)
    predictions = model.predict_dicts(rows)
    codes, probabilities = model.score(rows)
    assert codes == [p.code for p in predictions]
    for row, prediction in zip(probabilities, predictions, strict=True):
        assert [math.fabs(a - b) <= TOLERANCE for a, b in zip(row, prediction.probabilities.values(), strict=True)] == [True] * 3
    one_code, [one_row] = model.score(rows[:1])
    assert one_code == codes[:1] and np.allclose(one_row, probabilities[0], atol=TOLERANCE, rtol=0)
    if len(classes) == 2:  # the class training never saw is reported with probability 0
        assert all(row[1] == 0.0 for row in probabilities)


def test_xgboost_variants_compile_exactly(baskets):
    """Early stopping (only the best rounds count), a scaler in front, and a dense vectorizer (absent = 0, not missing)."""
    from xgboost import XGBClassifier

    train, rows = baskets
    labelled = [item for item in train if item.code != "XX"]
    features = [basket_features(item.basket) for item in labelled]
    target = np.array([("LA", "MM", "UM").index(item.code) for item in labelled])
    split = len(features) * 3 // 4
    stopped = XGBClassifier(n_estimators=200, max_depth=3, early_stopping_rounds=3, n_jobs=1, random_state=0)
    pipelines = {
        "early stopping": Pipeline([("vectorize", DictVectorizer(dtype=np.float32)), ("classify", stopped)]),
        "scaled": Pipeline(
            [("vectorize", DictVectorizer()), ("scale", MaxAbsScaler()), ("classify", XGBClassifier(n_estimators=20, n_jobs=1))]
        ),
        "dense": Pipeline([("vectorize", DictVectorizer(sparse=False)), ("classify", XGBClassifier(n_estimators=20, n_jobs=1))]),
    }
    for name, pipeline in pipelines.items():
        if name == "early stopping":
            vectorizer = pipeline.named_steps["vectorize"].fit(features[:split])
            evaluation = [(vectorizer.transform(features[split:]), target[split:])]
            pipeline.fit(features[:split], target[:split], classify__eval_set=evaluation, classify__verbose=False)
            assert stopped.best_iteration < 199
        else:
            pipeline.fit(features, target)
        scorer = compile_scorer(pipeline)
        assert scorer.kind == "trees", name
        expected = np.asarray(pipeline.predict_proba(rows), dtype=np.float64)
        expected /= expected.sum(axis=1, keepdims=True)
        assert np.max(np.abs(scorer.probabilities(rows) - expected)) <= TOLERANCE, name


def test_anything_else_is_scored_by_the_pipeline_itself(baskets):
    train, rows = baskets
    labelled = [item for item in train if item.code != "XX"]
    features = [basket_features(item.basket) for item in labelled]
    target = [("LA", "MM", "UM").index(item.code) for item in labelled]
    unusual = [
        Pipeline([("vectorize", DictVectorizer()), ("classify", DecisionTreeClassifier(max_depth=4, random_state=0))]),
        Pipeline([("vectorize", DictVectorizer(sparse=False)), ("scale", StandardScaler()), ("classify", DecisionTreeClassifier())]),
        # one member nothing compiles: the whole vote falls back, never half a blend
        Pipeline([("vectorize", DictVectorizer()), ("classify", SoftVote([ComplementNB(), DecisionTreeClassifier(max_depth=3)], [1, 1]))]),
    ]
    for pipeline in unusual:
        pipeline.fit(features, target)
        scorer = verified_scorer(pipeline)
        assert isinstance(scorer, PipelineScorer) and "not compiled" in scorer.reason
        expected = np.asarray(pipeline.predict_proba(rows))
        assert np.allclose(scorer.probabilities(rows), expected / expected.sum(axis=1, keepdims=True))


def test_a_compiled_scorer_that_disagrees_is_never_used(baskets, monkeypatch):
    """The load-time check is live: a compiled scorer off by more than 1e-6 falls back to predict_proba."""
    from retail_model.scoring import compiler as compile_module
    from retail_model.scoring.linear import LinearScorer

    train, rows = baskets
    model = fit_pipeline("logistic_regression", train)
    honest = compile_module.compile_scorer

    def off_by_a_little(pipeline):
        scorer = honest(pipeline)
        assert isinstance(scorer, LinearScorer)
        scorer.affine.intercept = scorer.affine.intercept + np.array([1e-4, 0.0, 0.0])
        scorer.affine.by_name = None  # the one-row path goes through the (shifted) intercept too
        return scorer

    monkeypatch.setattr(compile_module, "compile_scorer", off_by_a_little)
    scorer = verified_scorer(model.pipeline)
    assert isinstance(scorer, PipelineScorer)
    assert "disagreed" in scorer.reason and "differ by up to" in scorer.reason


def test_the_scorer_is_compiled_once_and_a_model_that_cannot_score_is_refused(baskets):
    train, rows = baskets
    model = fit_pipeline("logistic_regression", train)
    assert model.prepare() is model.scorer is model.scorer
    broken = PriceSensitivityModel(Pipeline([("vectorize", DictVectorizer())]), {"classes": ["LA", "MM", "UM"]}, version="b1")
    with pytest.raises(ModelLoadError, match="model b1 cannot score a basket"):
        broken.prepare()
    assert model.score([]) == ([], [])


def test_a_soft_vote_is_the_weighted_mean_of_its_members(baskets):
    train, rows = baskets
    pipeline = fit_pipeline("soft_vote", train).pipeline
    vote = pipeline.named_steps["classify"]
    matrix = pipeline[:-1].transform(rows)
    nb, lr = vote.estimators
    expected = 0.7 * nb.predict_proba(matrix) + 0.3 * lr.predict_proba(matrix)
    assert np.allclose(vote.predict_proba(matrix), expected, atol=1e-12)
    assert np.array_equal(vote.predict(matrix), vote.classes_[expected.argmax(axis=1)])
    assert repr(vote).startswith("SoftVote(0.7 * ComplementNB(alpha=0.2) + 0.3 * LogisticRegression(")
    with pytest.raises(ValueError, match="one weight per member"):
        SoftVote([nb, lr], [1.0]).predict_proba(matrix)
    with pytest.raises(ValueError, match=">= 0 and not all 0"):
        SoftVote([nb, lr], [0.0, 0.0]).predict_proba(matrix)
    two_classes = fit_pipeline("complement_nb", train, ("LA", "UM")).pipeline.named_steps["classify"]
    with pytest.raises(ValueError, match="must share classes_"):
        SoftVote([nb, two_classes], [1, 1]).classes_  # noqa: B018
