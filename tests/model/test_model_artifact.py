"""PriceSensitivityModel: save/load round trip, predictions, and the loader's refusals."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import joblib
import pytest
from tests.helpers.training_data import train_small_model
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from retail_model import FEATURE_VERSION, basket_features
from retail_model.artifact import MODEL_FILE_NAME, ModelLoadError, Prediction, PriceSensitivityModel


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_model(tmp_path_factory.mktemp("artifact"))


@pytest.fixture
def model_dir(trained, tmp_path) -> Path:
    """A private copy, so a test may damage it."""
    return Path(shutil.copytree(trained[0], tmp_path / "model"))


def test_round_trip_predicts_every_basket_with_probabilities_summing_to_one(trained):
    model_dir, test = trained
    model = PriceSensitivityModel.load(model_dir)
    labelled = [item for item in test if item.code != "XX"]
    predictions = model.predict([item.basket for item in labelled])
    assert len(predictions) == len(labelled)
    for prediction in predictions:
        assert isinstance(prediction, Prediction)
        assert set(prediction.probabilities) == {"High", "Medium", "Low"}
        assert math.isclose(sum(prediction.probabilities.values()), 1.0, abs_tol=1e-9)
        assert max(prediction.probabilities, key=prediction.probabilities.get) == prediction.price_sensitivity
        assert {"LA": "High", "MM": "Medium", "UM": "Low"}[prediction.code] == prediction.price_sensitivity
    accuracy = sum(p.code == item.code for p, item in zip(predictions, labelled, strict=True)) / len(labelled)
    assert accuracy > 0.7


def test_predict_uses_the_shared_feature_function(trained):
    model = PriceSensitivityModel.load(trained[0])
    baskets = [item.basket for item in trained[1][:20]]
    assert model.predict(baskets) == model.predict_dicts([basket_features(b) for b in baskets])
    assert model.predict([]) == []


def test_version_comes_from_the_loader_else_the_metadata(model_dir, tmp_path):
    assert PriceSensitivityModel.load(model_dir, version="2024-01").version == "2024-01"
    model = PriceSensitivityModel.load(model_dir)
    assert model.version == "unversioned"
    model.version = "v9"
    model.save(tmp_path / "resaved")
    reloaded = PriceSensitivityModel.load(tmp_path / "resaved")
    assert reloaded.version == "v9"
    assert reloaded.metadata["candidate"] == "logistic_regression"


def test_feature_version_mismatch_is_refused(model_dir):
    payload = joblib.load(model_dir / MODEL_FILE_NAME)
    payload["metadata"]["feature_version"] = "0"
    joblib.dump(payload, model_dir / MODEL_FILE_NAME)
    with pytest.raises(ModelLoadError, match=f"feature version '0' but this code computes version '{FEATURE_VERSION}'"):
        PriceSensitivityModel.load(model_dir)


def test_missing_model_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="no model.joblib in"):
        PriceSensitivityModel.load(tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a pickle", b"\x80\x04truncated"])
def test_corrupt_model_is_refused(model_dir, content):
    (model_dir / MODEL_FILE_NAME).write_bytes(content)
    with pytest.raises(ModelLoadError, match="not a readable model artefact"):
        PriceSensitivityModel.load(model_dir)


def test_foreign_joblib_is_refused(model_dir):
    joblib.dump({"something": "else"}, model_dir / MODEL_FILE_NAME)
    with pytest.raises(ModelLoadError, match="not a price-sensitivity model artefact"):
        PriceSensitivityModel.load(model_dir)


def test_a_class_missing_from_training_is_answered_with_probability_zero():
    rows = [{"product=A": 1.0}, {"product=B": 1.0}] * 5
    pipeline = Pipeline([("vectorize", DictVectorizer()), ("classify", LogisticRegression())]).fit(rows, [0, 1] * 5)
    model = PriceSensitivityModel(pipeline, {"classes": ["LA", "UM"]})
    [prediction] = model.predict_dicts([{"product=A": 1.0}])
    assert prediction.code == "LA"
    assert prediction.probabilities["Medium"] == 0.0
    assert math.isclose(sum(prediction.probabilities.values()), 1.0)


def test_metadata_must_name_known_classes():
    with pytest.raises(ValueError, match="metadata\\['classes'\\]"):
        PriceSensitivityModel(object(), {"classes": ["XX"]})
