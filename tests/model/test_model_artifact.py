"""PriceSensitivityModel: save/load round trip, predictions, and the loader's refusals."""

from __future__ import annotations

import json
import logging
import math
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
from tests.helpers.training_data import train_small_model
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from retail_model import FEATURE_VERSION, basket_features
from retail_model.artifact import MODEL_FILE_NAME, SCORER_FILE_NAME, SCORER_FORMAT, ModelLoadError, Prediction, PriceSensitivityModel


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


def test_a_loaded_model_serves_from_its_saved_scorer_without_importing_scikit_learn(model_dir, trained, tmp_path):
    """What an API pod does at start: load, prepare, score one basket and a batch, explain. A fresh
    interpreter, so the test sees what the load imports. The pipeline is unpickled only when asked
    for, and then gives the same answers."""
    baskets = [item.basket for item in trained[1][:40]]
    rows = [basket_features(b) for b in baskets]
    expected = PriceSensitivityModel.load(model_dir).predict_dicts(rows)
    (tmp_path / "baskets.pickle").write_bytes(pickle.dumps(baskets))
    script = (
        "import json, pickle, sys\n"
        "from retail_model.artifact import PriceSensitivityModel\n"
        "from retail_model import basket_features\n"
        f"model = PriceSensitivityModel.load({str(model_dir)!r})\n"
        "kind = model.prepare().kind\n"
        f"baskets = pickle.loads(open({str(tmp_path / 'baskets.pickle')!r}, 'rb').read())\n"
        "rows = [basket_features(b) for b in baskets]\n"
        "codes, probabilities = model.score_baskets(baskets)\n"
        "one = model.score(rows[:1])\n"
        "link, explained = model.explain(rows[:3], 3)\n"
        "served_without = 'sklearn' not in sys.modules\n"
        "pipeline = [p.probabilities for p in model.predict_dicts(rows)]\n"
        "print(json.dumps({'kind': kind, 'without': served_without, 'after': 'sklearn' in sys.modules, 'codes': codes,\n"
        "                  'probabilities': probabilities, 'one': one, 'explained': len(explained), 'pipeline': pipeline}))\n"
    )
    answer = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    assert answer["kind"] != "pipeline" and answer["without"], "scored and explained without scikit-learn"
    assert answer["after"], "predict_dicts unpickled the pipeline"
    assert answer["codes"] == [p.code for p in expected] and answer["explained"] == 3
    for served, by_pipeline, prediction in zip(answer["probabilities"], answer["pipeline"], expected, strict=True):
        assert by_pipeline == prediction.probabilities
        assert max(abs(a - b) for a, b in zip(served, [prediction.probabilities[c] for c in ("High", "Medium", "Low")], strict=True)) <= 1e-6
    assert answer["one"][0] == [expected[0].code]


def test_a_saved_scorer_is_used_only_with_the_model_file_it_was_compiled_from(model_dir, tmp_path, caplog):
    """A model.joblib copied over another model's (or rewritten since) never pairs with the old
    scorer.joblib: the loader compiles and checks the scorer from the pipeline it finds, and says so."""
    rows = [{"product=A": 1.0}, {"product=B": 1.0}] * 5
    other = PriceSensitivityModel(Pipeline([("vectorize", DictVectorizer()), ("classify", LogisticRegression())]).fit(rows, [0, 1] * 5), {"classes": ["LA", "UM"]})
    other.save(tmp_path / "other")
    assert (model_dir / SCORER_FILE_NAME).is_file() and (tmp_path / "other" / SCORER_FILE_NAME).is_file()
    shutil.copy(tmp_path / "other" / MODEL_FILE_NAME, model_dir / MODEL_FILE_NAME)
    with caplog.at_level(logging.WARNING, logger="retail_model.artifact"):
        loaded = PriceSensitivityModel.load(model_dir)
    assert f"was not compiled from this {MODEL_FILE_NAME} by this scorer format" in caplog.text
    assert loaded.classes == ["LA", "UM"] and loaded.score([{"product=A": 1.0}])[0] == other.score([{"product=A": 1.0}])[0]
    (model_dir / SCORER_FILE_NAME).write_bytes(b"truncated")
    assert PriceSensitivityModel.load(model_dir).score([{"product=B": 1.0}])[0] == ["UM"]
    other.save(model_dir)  # a matching pair again, but the scorer saved by another scorer format
    payload = joblib.load(model_dir / SCORER_FILE_NAME)
    joblib.dump({**payload, "scorer_format": SCORER_FORMAT + 1}, model_dir / SCORER_FILE_NAME)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="retail_model.artifact"):
        assert PriceSensitivityModel.load(model_dir).score([{"product=B": 1.0}])[0] == ["UM"]
    assert f"was not compiled from this {MODEL_FILE_NAME} by this scorer format" in caplog.text


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
