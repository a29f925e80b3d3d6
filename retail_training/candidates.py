"""The candidate models and how each is fitted.

Every candidate is a scikit-learn Pipeline `DictVectorizer -> [MaxAbsScaler] -> classifier`
over the sparse dicts `retail_model.basket_features` makes, so the API serves any winner the same
way. The rows are vectorized (and scaled) once per data set in a `Design`, and each candidate's
fitted classifier is put behind those fitted steps: comparing five candidates costs one
vectorization, not five.

- `baseline`: always the most frequent class (what a model must beat to be worth anything).
- `logistic_regression`: multinomial, lbfgs; MaxAbsScaler keeps the matrix sparse (indicators
  stay 1, the log-scale numbers land in [0, 1]), which also lets lbfgs converge in a few hundred
  iterations; iterations and convergence are recorded.
- `complement_nb`: complement naive Bayes, made for sparse count-like features: the label lives
  in which products a basket holds.
- `linear_svm`: a linear SVM, with probabilities calibrated by 3-fold cross-validation.
- `xgboost`: gradient-boosted trees, stopping early on the validation weeks.
- `nb_lr_blend`: a soft vote (retail_model.blend.SoftVote) of the best complement_nb and the best
  logistic_regression: weight * P_nb + (1 - weight) * P_lr. The search builds it from the
  members it already fitted (search.py); the final fit refits both members.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler
from sklearn.svm import LinearSVC

from retail_training.job import BLEND_MEMBERS, grid
from retail_training.metrics import CODE_ORDER
from retail_model.blend import SoftVote

UNSCALED = ("baseline", "xgboost")  # trees and the constant model gain nothing from scaling
# The grid each candidate searches (a hyperparameter holding a comma list); None = one setting.
GRID_OF = {"logistic_regression": "logistic_C", "complement_nb": "nb_alpha", "linear_svm": "svm_C", "xgboost": "xgb_max_depth"}
PARAMETER_OF = {"logistic_C": "C", "nb_alpha": "alpha", "svm_C": "C", "xgb_max_depth": "max_depth"}
BLEND = "nb_lr_blend"
# A blend's params, flat so they read in the candidate table: its weight and each member's setting.
BLEND_WEIGHT = "nb_weight"
MEMBER_PREFIX = {"complement_nb": "nb_", "logistic_regression": "lr_"}


@dataclass(frozen=True)
class Design:
    """Rows as the fitted vectorizer and scaler see them: raw and scaled sparse matrices."""

    vectorizer: DictVectorizer
    scaler: MaxAbsScaler
    raw: sparse.csr_matrix
    scaled: sparse.csr_matrix

    @classmethod
    def fit(cls, rows: Sequence[dict]) -> Design:
        vectorizer = DictVectorizer()
        raw = vectorizer.fit_transform(rows).tocsr()
        scaler = MaxAbsScaler().fit(raw)
        return cls(vectorizer, scaler, raw, scaler.transform(raw).tocsr())

    def transform(self, rows: Sequence[dict]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        raw = self.vectorizer.transform(rows).tocsr()
        return raw, self.scaler.transform(raw).tocsr()

    def matrix_for(self, name: str, raw: sparse.csr_matrix, scaled: sparse.csr_matrix) -> sparse.csr_matrix:
        return raw if name in UNSCALED else scaled

    def pipeline(self, name: str, classifier) -> Pipeline:
        """The fitted steps in front of a fitted classifier: what the model artefact holds."""
        steps = [("vectorize", self.vectorizer)]
        if name not in UNSCALED:
            steps.append(("scale", self.scaler))
        return Pipeline([*steps, ("classify", classifier)])


def search_space(name: str, hp: Mapping) -> list[dict]:
    """The settings `name` tries: the first `search_size` values of its grid, in order."""
    grid_name = GRID_OF.get(name)
    if grid_name is None:
        return [{}]
    return [{PARAMETER_OF[grid_name]: value} for value in grid(hp, grid_name)[: int(hp["search_size"])]]


def class_positions(codes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Classes present (in LA, MM, UM order) and each row's position among them (XGBoost wants 0..k-1)."""
    classes = [c for c in CODE_ORDER if c in set(codes.tolist())]
    position = {code: i for i, code in enumerate(classes)}
    return classes, np.array([position[c] for c in codes])


def build_classifier(name: str, params: Mapping, hp: Mapping):
    seed = int(hp["seed"])
    if name == "baseline":
        return DummyClassifier(strategy="prior")
    if name == "logistic_regression":
        return LogisticRegression(C=params["C"], max_iter=int(hp["max_iter"]), random_state=seed)
    if name == "complement_nb":
        return ComplementNB(alpha=params["alpha"])
    if name == "linear_svm":
        return CalibratedClassifierCV(LinearSVC(C=params["C"], random_state=seed), cv=3)
    if name == "xgboost":
        from xgboost import XGBClassifier  # imported lazily: only this candidate pays for it

        return XGBClassifier(
            tree_method="hist",
            n_estimators=int(params.get("n_estimators", hp["xgb_n_estimators"])),
            max_depth=int(params["max_depth"]),
            learning_rate=float(hp["xgb_learning_rate"]),
            random_state=seed,
            n_jobs=int(hp["n_jobs"]) or None,
        )
    raise ValueError(f"unknown candidate {name!r}")


def blend_params(weight: float, members: Mapping[str, Mapping]) -> dict:
    """{"nb_weight": 0.7, "nb_alpha": 0.2, "lr_C": 3.0} from the weight and each member's setting."""
    params = {BLEND_WEIGHT: weight}
    for member in BLEND_MEMBERS[BLEND]:
        params |= {MEMBER_PREFIX[member] + key: value for key, value in members[member].items()}
    return params


def blend_members(params: Mapping) -> dict[str, dict]:
    """Each member's own setting, back from a blend's params."""
    return {
        member: {key.removeprefix(MEMBER_PREFIX[member]): value for key, value in params.items() if key.startswith(MEMBER_PREFIX[member])}
        for member in BLEND_MEMBERS[BLEND]
    }


def soft_vote(params: Mapping, members: Sequence) -> SoftVote:
    """The blend of fitted members (in BLEND_MEMBERS order): weight for the first, the rest for the second."""
    weight = float(params[BLEND_WEIGHT])
    return SoftVote(list(members), [weight, 1.0 - weight])


def fit_classifier(
    name: str, params: Mapping, hp: Mapping, matrix: sparse.csr_matrix, positions: np.ndarray, stop_on=None
) -> tuple[object, dict]:
    """Fit one classifier; `stop_on` = (matrix, positions) of the validation weeks for early stopping."""
    started = time.perf_counter()
    if name == BLEND:  # both members fitted on the same rows with their own settings
        fitted = {member: fit_classifier(member, own, hp, matrix, positions) for member, own in blend_members(params).items()}
        classifier = soft_vote(params, [c for c, _ in fitted.values()])
        return classifier, {"fit_seconds": round(time.perf_counter() - started, 3), "members": {m: i for m, (_, i) in fitted.items()}}
    if name == "xgboost" and stop_on is not None:
        classifier, info = _boost_with_early_stopping(params, hp, matrix, positions, stop_on)
    else:
        classifier, info = build_classifier(name, params, hp), {}
        with warnings.catch_warnings():
            # Non-convergence is reported as a number in metrics.json, not a wall of warnings.
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier.fit(matrix, positions)
    info["fit_seconds"] = round(time.perf_counter() - started, 3)
    if name == "logistic_regression":
        iterations = int(np.max(classifier.n_iter_))
        info |= {"iterations": iterations, "converged": iterations < int(hp["max_iter"])}
    if name == "xgboost" and "boosting_rounds" not in info:
        info["boosting_rounds"] = int(classifier.n_estimators)
    return classifier, info


class _EarlyStoppedBooster:
    """A booster trained with XGBoost's native API, predicting class positions like a classifier.

    Only used to score a search trial: the winner is refit as an XGBClassifier with the number of
    rounds found here. (The scikit-learn wrapper builds its validation set as a QuantileDMatrix,
    which made each round ~20x slower on these sparse matrices; a plain DMatrix does not.)
    """

    def __init__(self, booster, rounds: int, n_classes: int) -> None:
        self.booster, self.rounds, self.n_classes = booster, rounds, n_classes

    def predict(self, matrix) -> np.ndarray:
        import xgboost

        scores = self.booster.predict(xgboost.DMatrix(matrix), iteration_range=(0, self.rounds))
        return (scores > 0.5).astype(int) if self.n_classes == 2 else np.argmax(scores, axis=1)


def _boost_with_early_stopping(params: Mapping, hp: Mapping, matrix, positions, stop_on) -> tuple[object, dict]:
    import xgboost

    n_classes = int(positions.max()) + 1
    options = {"tree_method": "hist", "max_depth": int(params["max_depth"]), "eta": float(hp["xgb_learning_rate"]), "seed": int(hp["seed"])}
    options |= {"objective": "binary:logistic"} if n_classes == 2 else {"objective": "multi:softprob", "num_class": n_classes}
    if int(hp["n_jobs"]):
        options["nthread"] = int(hp["n_jobs"])
    validation = xgboost.DMatrix(stop_on[0], label=stop_on[1])
    booster = xgboost.train(
        options,
        xgboost.DMatrix(matrix, label=positions),
        num_boost_round=int(hp["xgb_n_estimators"]),
        evals=[(validation, "validation")],
        early_stopping_rounds=int(hp["xgb_early_stopping_rounds"]),
        verbose_eval=False,
    )
    rounds = int(booster.best_iteration) + 1
    return _EarlyStoppedBooster(booster, rounds, n_classes), {"boosting_rounds": rounds}


def refit_params(name: str, params: Mapping, info: Mapping) -> dict:
    """The winner's settings for the final fit: XGBoost keeps the rounds early stopping chose."""
    if name == "xgboost" and "boosting_rounds" in info:
        return {**params, "n_estimators": info["boosting_rounds"]}
    return dict(params)


def predict_codes(pipeline_or_classifier, classes: list[str], matrix_or_rows) -> np.ndarray:
    return np.asarray(classes)[np.asarray(pipeline_or_classifier.predict(matrix_or_rows)).astype(int)]
