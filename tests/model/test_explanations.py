"""Explanations add up: for every candidate type training can produce, on held-out baskets, each
class's top-k contributions + the rest + the intercept is the class's score, and the scores are
the model's own (softmax of them is the answer the API reports; for the calibrated LinearSVC the
folds' mean decision margin; for a blend the weighted sum of its members' scores)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.helpers.scoring_data import CANDIDATES, fit_pipeline, train_and_held_out

from retail_model import basket_features
from retail_model.scoring.contribution_table import contribution_table
from retail_model.scoring.explain import BLEND, CALIBRATED, SOFTMAX, contributions, feature_names, space_of, top_k


@pytest.fixture(scope="module")
def baskets():
    return train_and_held_out()


def _softmax(scores: np.ndarray) -> np.ndarray:
    exponentials = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", CANDIDATES)
def test_contributions_add_up_to_the_reported_score_on_held_out_baskets(name, baskets):
    train, held_out = baskets
    model = fit_pipeline(name, train)
    rows = [basket_features(item.basket) for item in held_out[:80]]
    link, explained = model.explain(rows, 3)
    probabilities = np.asarray(model.pipeline.predict_proba(rows), dtype=np.float64)
    scores = np.array([[row[cls].score for cls in row] for row in explained])
    for row in explained:
        for cls in row.values():
            assert len(cls.top) <= 3
            assert sum(c for _, c in cls.top) + cls.other + cls.intercept == pytest.approx(cls.score, abs=1e-9)
            magnitudes = [abs(c) for _, c in cls.top]
            assert magnitudes == sorted(magnitudes, reverse=True)
    if name.startswith("dummy"):
        assert all(not cls.top for row in explained for cls in row.values())
    else:  # every basket is explained by its own features, named as the features are
        assert all(any(cls.top for cls in row.values()) for row in explained)
        assert {feature for row in explained for cls in row.values() for feature, _ in cls.top} <= set().union(*map(set, rows))
    full = contributions(model.scorer, rows)
    assert np.allclose(full.scores(), scores, atol=1e-9)
    if link == SOFTMAX:
        assert np.allclose(_softmax(scores), probabilities / probabilities.sum(axis=1, keepdims=True), atol=2e-6)
    elif link == CALIBRATED:
        classifier, matrix = model.pipeline.steps[-1][1], model.pipeline[:-1].transform(rows)
        margins = np.mean([fold.estimator.decision_function(matrix) for fold in classifier.calibrated_classifiers_], axis=0)
        assert np.allclose(scores, margins, atol=1e-9)
    else:
        assert link == BLEND
        member_probabilities = sum(weight * _softmax(part.scores()) for weight, part in full.members)
        assert np.allclose(member_probabilities, probabilities, atol=2e-6)
        assert np.allclose(sum(weight * part.scores() for weight, part in full.members), scores, atol=1e-9)


def test_linear_contributions_are_weight_times_value_named_by_feature(baskets):
    train, held_out = baskets
    model = fit_pipeline("complement_nb", train)  # unscaled: the value reaching the model is the feature's
    row = basket_features(held_out[0].basket)
    _, [explained] = model.explain([row], 1000)  # every contribution
    vectorizer, classifier = model.pipeline.steps[0][1], model.pipeline.steps[-1][1]
    weights = np.asarray(classifier.feature_log_prob_)  # (classes, features)
    known = [name for name in row if name in vectorizer.vocabulary_]
    for position, cls in enumerate(explained.values()):
        got = dict(cls.top)
        assert cls.other == pytest.approx(0.0, abs=1e-9)
        for name in known:
            raw = row[name] * weights[:, vectorizer.vocabulary_[name]]
            assert got.get(name, 0.0) == pytest.approx(raw[position] - raw.mean(), abs=1e-9)
    assert any(name.startswith("product=") for name in dict(next(iter(explained.values())).top))


def test_xgboost_contributions_are_xgboosts_own(baskets):
    import xgboost

    train, held_out = baskets
    model = fit_pipeline("xgboost", train)
    rows = [basket_features(item.basket) for item in held_out[:20]]
    full = contributions(model.scorer, rows)
    booster = model.pipeline.steps[-1][1].get_booster()
    own = booster.predict(xgboost.DMatrix(model.pipeline[:-1].transform(rows)), pred_contribs=True)  # (rows, classes, features + 1)
    centred = own - own.mean(axis=1, keepdims=True)
    dense = np.zeros_like(centred[:, :, :-1], dtype=np.float64)
    for row in range(len(rows)):
        start, end = full.indptr[row], full.indptr[row + 1]
        dense[row][:, full.columns[start:end]] = full.values[start:end].T
    assert np.allclose(dense, centred[:, :, :-1], atol=1e-6)
    assert np.allclose(full.intercept, centred[:, :, -1], atol=1e-6)


@pytest.mark.parametrize("name", CANDIDATES)
def test_one_basket_path_gives_the_numpy_paths_explanation(name, baskets):
    """The plain-Python table (linear models and their blends) explains exactly as the numpy path does."""
    train, held_out = baskets
    model = fit_pipeline(name, train)
    table = contribution_table(model.scorer)
    if name in ("xgboost", "soft_vote_with_trees"):  # XGBoost's own contributions: the numpy path only
        assert table is None
        return
    assert table is not None
    rows = [basket_features(item.basket) for item in held_out[:40]]
    names = feature_names(space_of(model.scorer)) if space_of(model.scorer) is not None else np.empty(0, dtype=object)
    explained = contributions(model.scorer, rows)
    expected, every = top_k(explained, names, 3), top_k(explained, names, 1000)
    for row, numpy_classes, numpy_all in zip(rows, expected, every, strict=True):
        for fast, slow, whole in zip(table.explain(row, 3), numpy_classes, numpy_all, strict=True):
            assert fast.score == pytest.approx(slow.score, abs=1e-9)
            assert fast.intercept == pytest.approx(slow.intercept, abs=1e-9)
            assert fast.other == pytest.approx(slow.other, abs=1e-9)
            assert [c for _, c in fast.top] == pytest.approx([c for _, c in slow.top], abs=1e-9)
            # equal magnitudes at the k-th place may name either feature: each named one has its own contribution
            own = dict(whole.top)
            assert all(c == pytest.approx(own[feature], abs=1e-9) for feature, c in fast.top)


ONE_PASS = [(name, None) for name in CANDIDATES] + [("logistic_regression", ("LA", "UM")), ("soft_vote", ("MM", "UM"))]


@pytest.mark.parametrize(("name", "classes"), ONE_PASS, ids=[f"{n}-{'-'.join(c) if c else 'all'}" for n, c in ONE_PASS])
def test_one_pass_scoring_and_explaining_gives_scores_answer_and_the_numpy_paths_explanation(name, classes, baskets):
    """`score_explained` (the API's `"explain": k` for one basket) answers exactly as `score` and explains as the
    reference numpy path, for every candidate type and for two-class models; k beyond the basket's features lists them all."""
    train, held_out = baskets
    model = fit_pipeline(name, train, classes) if classes else fit_pipeline(name, train)
    rows = [basket_features(item.basket) for item in held_out[:40]]
    names = feature_names(space_of(model.scorer)) if space_of(model.scorer) is not None else np.empty(0, dtype=object)
    reference = {k: top_k(contributions(model.scorer, rows), names, k) for k in (3, 1000)}
    for number, row in enumerate(rows):
        [code], [probabilities] = model.score([row])
        for k in (3, 1000):
            got_code, got_probabilities, link, explained = model.score_explained(row, k)
            assert (got_code, got_probabilities) == (code, probabilities)  # the very same numbers, not close ones
            assert link == contributions(model.scorer, [row]).link
            everything = reference[1000][number]
            for fast, slow, whole in zip(explained.values(), reference[k][number], everything, strict=True):
                assert fast.score == pytest.approx(slow.score, abs=1e-9)
                assert fast.intercept == pytest.approx(slow.intercept, abs=1e-9)
                assert fast.other == pytest.approx(slow.other, abs=1e-9)
                assert [c for _, c in fast.top] == pytest.approx([c for _, c in slow.top], abs=1e-9)
                own = dict(whole.top)  # equal magnitudes at the k-th place may name either feature
                assert all(c == pytest.approx(own[feature], abs=1e-9) for feature, c in fast.top)
                if k == 1000:
                    assert len(fast.top) == len(whole.top) and fast.other == pytest.approx(0.0, abs=1e-9)
    one_pass = model._scoring_table is not None
    assert one_pass == (name in ("logistic_regression", "logistic_regression_unscaled", "multinomial_nb", "complement_nb", "soft_vote"))
