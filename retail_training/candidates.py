"""The candidate models and how each is fitted.

Every candidate is a scikit-learn Pipeline `DictVectorizer -> [MaxAbsScaler] -> classifier`
over the sparse dicts `retail_model.basket_features` makes, so the API serves any winner the same
way. The rows are vectorized once (design.py) and each candidate's fitted classifier is put
behind the chosen feature set's fitted steps. No Dagster import: this runs inside the training
container.

- `baseline`: always the most frequent class (what a model must beat to be worth anything).
- `logistic_regression`: multinomial, lbfgs; MaxAbsScaler keeps the matrix sparse (indicators
  stay 1, the log-scale numbers land in [0, 1]), which also lets lbfgs converge in a few hundred
  iterations; iterations and convergence are recorded. The search fits it along a path of C,
  each C fitted from zero (see _fit_logistic for why), in chunks of iterations it may stop between.
- `complement_nb`: complement naive Bayes, made for sparse count-like features: the label lives
  in which products a basket holds.
- `linear_svm`: a linear SVM. The search scores the plain LinearSVC (its decision function
  needs no probabilities); only a winner is calibrated (3-fold), because the API serves
  probabilities.
- `xgboost`: gradient-boosted trees (hist), stopping early on the validation weeks.
- `nb_lr_blend`: a soft vote (retail_model.blend.SoftVote) of the best complement_nb and the best
  logistic_regression: weight * P_nb + (1 - weight) * P_lr. The search builds it from the
  members it already fitted (search.py); the final fit refits both members.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from itertools import product

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from retail_training.job import BLEND_MEMBERS, grid
from retail_training.metrics import CODE_ORDER
from retail_model.blend import SoftVote

# The grids each candidate searches (hyperparameters holding a comma list); none = one setting.
GRIDS_OF = {
    "logistic_regression": ("logistic_C",),
    "complement_nb": ("nb_alpha",),
    "linear_svm": ("svm_C",),
    "xgboost": ("xgb_max_depth", "xgb_learning_rate"),
}
PARAMETER_OF = {"logistic_C": "C", "nb_alpha": "alpha", "svm_C": "C", "xgb_max_depth": "max_depth", "xgb_learning_rate": "learning_rate"}
LBFGS_CHUNK = 100  # iterations between two looks at a search trial (budget, can it still win?)
# A look at a running trial: (classifier so far, iterations or rounds done) -> why to stop it, or None.
Watch = Callable[[object, int], "str | None"]
BLEND = "nb_lr_blend"
# A blend's params, flat so they read in the candidate table: its weight and each member's setting.
BLEND_WEIGHT = "nb_weight"
MEMBER_PREFIX = {"complement_nb": "nb_", "logistic_regression": "lr_"}


def search_space(name: str, hp: Mapping) -> list[dict]:
    """The settings `name` tries: each grid cut to `search_size` values spread evenly over it
    (0 = all of it), in grid order; the logistic regression's C ascending (its path)."""
    names = GRIDS_OF.get(name)
    if not names:
        return [{}]
    values = [spread(sorted(grid(hp, g)) if name == "logistic_regression" else grid(hp, g), int(hp["search_size"])) for g in names]
    return [{PARAMETER_OF[g]: v for g, v in zip(names, combo, strict=True)} for combo in product(*values)]


def spread(values: list, size: int) -> list:
    """`size` values spread evenly over `values` (ends included), in their order; 0 = all."""
    if size <= 0 or size >= len(values):
        return list(values)
    if size == 1:
        return [values[(len(values) - 1) // 2]]
    return [values[round(i * (len(values) - 1) / (size - 1))] for i in range(size)]


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
    if name == "linear_svm":  # calibrated only as a winner (calibrate_svm): the search needs no probabilities
        return LinearSVC(C=params["C"], random_state=seed)
    if name == "xgboost":
        from xgboost import XGBClassifier  # imported lazily: only this candidate pays for it

        return XGBClassifier(
            tree_method="hist",
            n_estimators=int(params.get("n_estimators", hp["xgb_n_estimators"])),
            max_depth=int(params["max_depth"]),
            learning_rate=float(params.get("learning_rate", 0.3)),
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
    name: str,
    params: Mapping,
    hp: Mapping,
    matrix: sparse.csr_matrix,
    positions: np.ndarray,
    stop_on=None,
    warm=None,
    watch: Watch | None = None,
    final: bool = False,
) -> tuple[object, dict]:
    """Fit one classifier; returns it and what happened (`fit_seconds`, iterations, `stopped`).

    `stop_on` = (matrix, positions) of the validation weeks for XGBoost's early stopping; `warm`
    a fitted logistic regression over the same columns to start from; `watch` is asked between
    chunks of iterations (rounds) whether to stop; `final` = the winner's refit (a linear SVM is
    then calibrated, since the API serves probabilities).
    """
    started = time.perf_counter()
    if name == BLEND:  # both members fitted on the same rows with their own settings
        fitted = {member: fit_classifier(member, own, hp, matrix, positions, final=final) for member, own in blend_members(params).items()}
        classifier = soft_vote(params, [c for c, _ in fitted.values()])
        return classifier, {"fit_seconds": round(time.perf_counter() - started, 3), "members": {m: i for m, (_, i) in fitted.items()}}
    if name == "xgboost" and stop_on is not None:
        classifier, info = _boost_with_early_stopping(params, hp, matrix, positions, stop_on, watch)
    elif name == "logistic_regression":
        classifier, info = _fit_logistic(params, hp, matrix, positions, warm, watch)
    else:
        classifier, info = build_classifier(name, params, hp), {}
        if name == "linear_svm" and final:
            classifier = CalibratedClassifierCV(classifier, cv=3)
        with warnings.catch_warnings():
            # Non-convergence is reported as a number in metrics.json, not a wall of warnings.
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier.fit(matrix, positions)
    info["fit_seconds"] = round(time.perf_counter() - started, 3)
    if name == "xgboost" and "boosting_rounds" not in info:
        info["boosting_rounds"] = int(classifier.n_estimators)
    return classifier, info


def _fit_logistic(params: Mapping, hp: Mapping, matrix, positions, warm, watch: Watch | None) -> tuple[LogisticRegression, dict]:
    """lbfgs in chunks a watch may stop; from `warm`'s coefficients only when `warm` has the same C.

    Each chunk restarts lbfgs from where the last one ended (warm_start), so a watched fit costs a
    little more than one long fit; an unwatched one (the refit) runs in one go.

    Why a new C starts from zero (measured on the realistic profile, 104 x 4,500, `hierarchy`
    features, docs/training.md): scikit-learn's objective is the mean log-loss plus
    ||w||^2 / (2 C n), so at the previous C's solution the gradient is only the penalty's change,
    |1/C - 1/C_prev| * w / n, about 1e-6 with 300 k rows: below lbfgs's tolerance (1e-4), the fit
    "converges" at once with the previous C's model and the path never reaches the weak
    regularisation. With a tolerance tight enough to move (a tenth of that gradient), the
    warm-started path took more iterations than fits from zero (121 at C=3) and scored lower on
    validation (0.986 against 0.988 from zero at C=1): fits that run to tight convergence at large
    C overfit. So each C is fitted from zero at the default tolerance; a later rung's first fit
    (same C, more rows) still starts from the earlier rung's coefficients.
    """
    max_iter = int(hp["max_iter"])
    classifier = LogisticRegression(C=params["C"], max_iter=max_iter, random_state=int(hp["seed"]), warm_start=True)
    if warm is not None and getattr(warm, "C", None) != params["C"]:
        warm = None  # another C starts from zero (why: below)
    if warm is not None and getattr(warm, "coef_", None) is not None:
        classifier.coef_, classifier.intercept_ = warm.coef_.copy(), warm.intercept_.copy()
        classifier.classes_ = warm.classes_
    done, stopped = 0, None
    while True:
        classifier.max_iter = max_iter - done if watch is None else min(LBFGS_CHUNK, max_iter - done)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier.fit(matrix, positions)
        ran = int(np.max(classifier.n_iter_))
        done += ran
        if ran < classifier.max_iter or done >= max_iter:
            break
        stopped = watch(classifier, done) if watch is not None else None
        if stopped:
            break
    info = {"iterations": done, "converged": done < max_iter and stopped is None, "warm_start": warm is not None}
    if stopped:
        info["stopped"] = stopped
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

        if not isinstance(matrix, xgboost.DMatrix):
            matrix = xgboost.DMatrix(matrix)
        scores = self.booster.predict(matrix, iteration_range=(0, self.rounds))
        return (scores > 0.5).astype(int) if self.n_classes == 2 else np.argmax(scores, axis=1)


def _boost_with_early_stopping(params: Mapping, hp: Mapping, matrix, positions, stop_on, watch: Watch | None = None) -> tuple[object, dict]:
    import xgboost

    class Look(xgboost.callback.TrainingCallback):
        """Asks the watch every 10 rounds whether this trial may go on."""

        reason: str | None = None

        def after_iteration(self, model, epoch, evals_log) -> bool:
            if watch is None or (epoch + 1) % 10:
                return False
            Look.reason = watch(_EarlyStoppedBooster(model, epoch + 1, n_classes), epoch + 1)
            return Look.reason is not None

    n_classes = int(positions.max()) + 1
    options = {"tree_method": "hist", "max_depth": int(params["max_depth"]), "eta": float(params["learning_rate"]), "seed": int(hp["seed"])}
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
        callbacks=[Look()],
    )
    rounds = int(booster.best_iteration) + 1
    info = {"boosting_rounds": rounds}
    if Look.reason:
        info["stopped"] = Look.reason
    return _EarlyStoppedBooster(booster, rounds, n_classes), info


def refit_params(name: str, params: Mapping, info: Mapping) -> dict:
    """The winner's settings for the final fit: XGBoost keeps the rounds early stopping chose."""
    if name == "xgboost" and "boosting_rounds" in info:
        return {**params, "n_estimators": info["boosting_rounds"]}
    return dict(params)


def predict_codes(pipeline_or_classifier, classes: list[str], matrix_or_rows) -> np.ndarray:
    return np.asarray(classes)[np.asarray(pipeline_or_classifier.predict(matrix_or_rows)).astype(int)]
