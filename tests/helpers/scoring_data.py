"""Every candidate type that can win training, fitted on synthetic baskets, and served from a lake.

The pipelines are built the way training builds them (DictVectorizer -> optional MaxAbsScaler ->
classifier over integer class positions) and fitted on earlier weeks; the held-out baskets come
from later weeks, so the scorers are compared on rows the models never saw.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tests.helpers.training_data import TEST_WEEKS, TRAIN_WEEKS, LabelledBasket, synthetic_baskets
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler
from sklearn.svm import LinearSVC

from retail_model import FEATURE_VERSION, basket_features
from retail_model.artifact import PriceSensitivityModel
from retail_model.blend import SoftVote
from retail_model.labels import TRAINABLE_CODES
from retail_model.lake import LocalLake
from retail_model.registry import APPROVED, LakeModelRegistry


def _xgboost(**options):
    from xgboost import XGBClassifier

    return XGBClassifier(tree_method="hist", n_estimators=40, max_depth=4, learning_rate=0.3, random_state=0, n_jobs=1, **options)


# name -> (classifier factory, scale?, vectorizer dtype); mirrors retail_training.candidates
CANDIDATES: dict[str, tuple[Callable, bool, type]] = {
    "logistic_regression": (lambda: LogisticRegression(C=100.0, max_iter=300, random_state=0), True, np.float64),
    "logistic_regression_unscaled": (lambda: LogisticRegression(C=1.0, max_iter=300), False, np.float64),
    "xgboost": (_xgboost, False, np.float32),
    "multinomial_nb": (lambda: MultinomialNB(alpha=0.5), True, np.float64),
    "complement_nb": (lambda: ComplementNB(alpha=0.5), False, np.float64),
    "calibrated_linear_svc": (lambda: CalibratedClassifierCV(LinearSVC(C=0.5, random_state=0), cv=3), True, np.float64),
    "calibrated_linear_svc_isotonic": (
        lambda: CalibratedClassifierCV(LinearSVC(C=0.5, random_state=0), cv=3, method="isotonic"),
        False,
        np.float64,
    ),
    "dummy_prior": (lambda: DummyClassifier(strategy="prior"), False, np.float64),
    # training's nb_lr_blend; Pipeline.fit fits the members in place
    "soft_vote": (lambda: SoftVote([ComplementNB(alpha=0.2), LogisticRegression(C=3.0, max_iter=300, random_state=0)], [0.7, 0.3]),
                  True, np.float64),
    "soft_vote_with_trees": (lambda: SoftVote([ComplementNB(alpha=0.5), _xgboost()], [1.0, 3.0]), False, np.float32),
}


def fit_pipeline(name: str, baskets: list[LabelledBasket], classes: tuple[str, ...] = TRAINABLE_CODES) -> PriceSensitivityModel:
    make, scale, dtype = CANDIDATES[name]
    labelled = [item for item in baskets if item.code in classes]
    position = {code: i for i, code in enumerate(classes)}
    steps = [("vectorize", DictVectorizer(dtype=dtype))]
    if scale:
        steps.append(("scale", MaxAbsScaler()))
    steps.append(("classify", make()))
    pipeline = Pipeline(steps).fit(
        [basket_features(item.basket) for item in labelled], np.array([position[item.code] for item in labelled])
    )
    return PriceSensitivityModel(pipeline, {"classes": list(classes), "candidate": name}, version=name)


def train_and_held_out(n_train: int = 900, n_test: int = 300, seed: int = 5) -> tuple[list[LabelledBasket], list[LabelledBasket]]:
    return synthetic_baskets(n_train, TRAIN_WEEKS, seed=seed), synthetic_baskets(n_test, TEST_WEEKS, seed=seed + 1)


def publish(lake: Path, model_dir: Path, version: str, release: bool = True) -> None:
    """What registered_model + api_release do: copy into models/<v>, register Approved, release."""
    shutil.copytree(model_dir, lake / "models" / version)
    registry = LakeModelRegistry(LocalLake(lake))
    registry.register(version, model_uri=str(lake / "models" / version), feature_version=FEATURE_VERSION, metrics={}, status=APPROVED)
    if release:
        registry.record_release(version)


def save_model(model: PriceSensitivityModel, directory: Path) -> Path:
    """A fitted candidate as training leaves it: model.joblib in a model directory."""
    model.save(directory)
    return directory


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
