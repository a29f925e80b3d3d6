"""Which scorer a fitted pipeline compiles to, and the check that it answers like the pipeline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from retail_model.scoring.base import CompileError, FeatureRows, FeatureSpace, PipelineScorer, Scorer
from retail_model.scoring.blend import SoftVoteScorer
from retail_model.scoring.linear import compile_calibrated_linear_svc, compile_logistic_regression, compile_naive_bayes
from retail_model.scoring.trees import compile_xgboost

log = logging.getLogger(__name__)

TOLERANCE = 1e-6  # the largest difference in any probability tolerated between scorer and pipeline


class ScorerMismatchError(Exception):
    """A compiled scorer disagreed with the pipeline it was compiled from."""


def compile_scorer(pipeline: Any) -> Scorer:
    """The fastest exact scorer for `pipeline`; its own predict_proba when nothing faster applies."""
    try:
        return _compile(pipeline)
    except CompileError as error:
        log.info("scoring with the pipeline's predict_proba: %s is not compiled", error)
        return PipelineScorer(pipeline, reason=f"not compiled: {error}")


def _compile(pipeline: Any) -> Scorer:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.preprocessing import MaxAbsScaler

    steps = [step for _, step in getattr(pipeline, "steps", []) if step not in (None, "passthrough")]
    if len(steps) not in (2, 3) or type(steps[0]) is not DictVectorizer:
        raise CompileError(f"pipeline steps {[type(s).__name__ for s in steps]} (expected DictVectorizer -> [MaxAbsScaler] -> classifier)")
    scaler = steps[1] if len(steps) == 3 else None
    if scaler is not None and type(scaler) is not MaxAbsScaler:
        raise CompileError(f"a {type(scaler).__name__} step")
    return _compile_classifier(FeatureSpace(steps[0], scaler), steps[-1])


def _compile_classifier(space: FeatureSpace, classifier: Any) -> Scorer:
    """The scorer of one fitted classifier reading `space`; CompileError for anything not reproduced exactly."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB, MultinomialNB

    from retail_model.blend import SoftVote

    kind = type(classifier)
    if kind is SoftVote:  # each member compiled over the same features, their answers weighted
        return SoftVoteScorer([_compile_classifier(space, member) for member in classifier.estimators], classifier.normalised_weights)
    if kind is LogisticRegression:
        return compile_logistic_regression(space, classifier)
    if kind in (MultinomialNB, ComplementNB):
        return compile_naive_bayes(space, classifier, complement=kind is ComplementNB)
    if kind.__name__ == "CalibratedClassifierCV":
        return compile_calibrated_linear_svc(space, classifier)
    if kind.__name__ == "XGBClassifier":
        return compile_xgboost(space, classifier)
    if kind is DummyClassifier:
        return _compile_dummy(classifier)
    raise CompileError(f"classifier {kind.__name__}")


def _compile_dummy(classifier: Any) -> Scorer:
    from retail_model.scoring.base import ConstantScorer

    if classifier.strategy not in ("prior", "most_frequent", "constant") or classifier.n_outputs_ != 1:
        raise CompileError(f"DummyClassifier(strategy={classifier.strategy!r}) answers at random")
    # Its answer does not depend on the features: ask it once, for any row.
    return ConstantScorer(np.asarray(classifier.predict_proba(np.zeros((1, 1))), dtype=np.float64)[0])


def probe_rows(pipeline: Any, n_rows: int = 48, seed: int = 0) -> list[dict[str, float]]:
    """Feature dicts built from the pipeline's own vocabulary, to compare a scorer against it.

    Every row mixes known indicator-style names (value 1), unseen names, and numeric features
    with varied magnitudes; the first row is empty (an all-unknown basket).
    """
    vectorizer = pipeline.steps[0][1]
    names = list(getattr(vectorizer, "feature_names_", []))
    rng = np.random.default_rng(seed)
    rows: list[dict[str, float]] = [{}]
    for number in range(n_rows - 1):
        picked = rng.choice(len(names), size=min(len(names), int(rng.integers(1, 40))), replace=False) if names else []
        row = {names[i]: (1.0 if "=" in names[i] else float(rng.uniform(0.0, 6.0))) for i in picked}
        row[f"never_seen_{number}"] = 1.0
        rows.append(row)
    return rows


def verified_scorer(pipeline: Any, rows: FeatureRows | None = None) -> Scorer:
    """compile_scorer, kept only if it matches `pipeline.predict_proba` on `rows` (default: probes).

    Raises whatever the pipeline raises when it cannot score at all: such an artefact is broken.
    """
    rows = probe_rows(pipeline) if rows is None else rows
    expected = PipelineScorer(pipeline).probabilities(rows)
    scorer = compile_scorer(pipeline)
    if isinstance(scorer, PipelineScorer):
        return scorer
    try:
        check_agreement(scorer, expected, rows)
    except Exception as error:  # any failure of the fast path means: use the exact one
        log.error("the compiled %s scorer disagrees with the pipeline (%s); scoring with predict_proba", scorer.kind, error)
        return PipelineScorer(pipeline, reason=f"compiled {scorer.kind} scorer disagreed: {error}")
    return scorer


def check_agreement(scorer: Scorer, expected: np.ndarray, rows: FeatureRows) -> None:
    """Both paths of the scorer (many rows at once, and one row) against the pipeline's answers."""
    batch = scorer.probabilities(rows)
    one_by_one = np.asarray([scorer.probabilities_one(row) for row in rows], dtype=np.float64).reshape(expected.shape[0], -1)
    for path, actual in (("batch", batch), ("one-row", one_by_one)):
        if actual.shape != expected.shape:
            raise ScorerMismatchError(f"{path} path: shape {actual.shape} instead of {expected.shape}")
        difference = float(np.max(np.abs(actual - expected), initial=0.0))
        if difference > TOLERANCE:
            raise ScorerMismatchError(f"{path} path: probabilities differ by up to {difference:.2e} (tolerance {TOLERANCE:.0e})")
        if not np.array_equal(actual.argmax(axis=1), expected.argmax(axis=1)):
            raise ScorerMismatchError(f"{path} path: a different class wins for some rows")
