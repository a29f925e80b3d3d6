"""Compiled scoring for the model artefact: the same probabilities as the pipeline, in microseconds.

`compile_scorer(pipeline)` turns a fitted `DictVectorizer -> [MaxAbsScaler] -> classifier`
pipeline into a `Scorer`: linear models (LogisticRegression, MultinomialNB, ComplementNB,
CalibratedClassifierCV over LinearSVC) become one sparse dot product, XGBoost's trees become flat
arrays, DummyClassifier a constant, and a SoftVote of any of these the weighted mean of its
members' compiled scorers. Anything else keeps the pipeline's own `predict_proba`.
`verified_scorer` then checks the compiled scorer against the pipeline on probe rows and falls
back to the pipeline if they ever disagree by more than 1e-6, so a fast answer is never a
different answer.
"""

from retail_model.scoring.base import CompileError, FeatureSpace, PipelineScorer, Scorer
from retail_model.scoring.compiler import TOLERANCE, ScorerMismatchError, compile_scorer, probe_rows, verified_scorer

__all__ = [
    "TOLERANCE",
    "CompileError",
    "FeatureSpace",
    "PipelineScorer",
    "Scorer",
    "ScorerMismatchError",
    "compile_scorer",
    "probe_rows",
    "verified_scorer",
]
