"""The SageMaker-contract training entrypoint, run as a real subprocess on parquet channels."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from tests.helpers.training_data import TEST_WEEKS, TRAIN_WEEKS, run_entrypoint, synthetic_baskets, write_channel, write_train_test

from retail_training import entrypoint as training_entrypoint
from retail_training.job import parse_job
from retail_model import FEATURE_VERSION
from retail_model.artifact import PriceSensitivityModel

METRIC_KEYS = {
    "accuracy",
    "macro_f1",
    "per_class",
    "confusion_matrix",
    "n_train",
    "n_test",
    "n_excluded_unclassified",
    "split",
    "candidates",
    "winner",
    "winner_params",
    "by_customer",
    "search",
    "top_features",
    "feature_version",
    "hyperparameters",
    "data_versions",
}
ALL_CANDIDATES = {"baseline", "logistic_regression", "complement_nb", "linear_svm", "xgboost", "nb_lr_blend"}


@pytest.fixture(scope="module")
def channels(tmp_path_factory) -> tuple[Path, Path, list]:
    return write_train_test(tmp_path_factory.mktemp("channels"))


@pytest.fixture(scope="module")
def trained(channels, tmp_path_factory) -> tuple[Path, Path, dict]:
    train_dir, test_dir, _ = channels
    model_dir, output_dir = tmp_path_factory.mktemp("model"), tmp_path_factory.mktemp("output")
    result = run_entrypoint(model_dir, train_dir, test_dir, hyperparameters='{"search_size": 1}', output_data_dir=output_dir)
    assert result.returncode == 0, result.stderr
    return model_dir, output_dir, json.loads((model_dir / "metrics.json").read_text())


def test_writes_model_and_metrics_with_every_contract_key(trained):
    model_dir, output_dir, metrics = trained
    assert (model_dir / "model.joblib").is_file()
    assert METRIC_KEYS <= metrics.keys()
    assert set(metrics["per_class"]) == {"High", "Medium", "Low"}
    assert set(metrics["per_class"]["High"]) == {"precision", "recall", "f1", "support"}
    assert metrics["confusion_matrix"]["labels"] == ["High", "Medium", "Low"]
    assert metrics["feature_version"] == FEATURE_VERSION
    assert metrics["hyperparameters"]["search_size"] == 1
    assert json.loads((output_dir / "metrics.json").read_text()) == metrics


def test_scores_the_test_channel_without_unclassified_baskets(channels, trained):
    train_dir, test_dir, test_baskets = channels
    _, output_dir, metrics = trained
    test_unclassified = sum(item.code == "XX" for item in test_baskets)
    assert test_unclassified > 0
    assert metrics["n_test"] == len(test_baskets) - test_unclassified
    assert metrics["n_excluded_unclassified"]["test"] == test_unclassified
    assert metrics["n_excluded_unclassified"]["train"] > 0
    assert sum(metrics["per_class"][c]["support"] for c in ("High", "Medium", "Low")) == metrics["n_test"]
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == metrics["n_test"]
    predictions = pl.read_parquet(output_dir / "test_predictions.parquet")
    assert predictions.height == metrics["n_test"] and "XX" not in predictions["true_code"].to_list()
    # The label really depends on the products: far above the 0.33 a guess would get.
    assert metrics["macro_f1"] > 0.7


def test_winner_is_chosen_on_the_latest_train_weeks(trained):
    metrics = trained[2]
    split, candidates = metrics["split"], metrics["candidates"]
    assert split["method"] == "time"
    assert split["validation_weeks"] == [TRAIN_WEEKS[-1]]
    assert split["fit_weeks"] == TRAIN_WEEKS[:-1]
    assert split["test_weeks"] == TEST_WEEKS and split["test_weeks_overlap_train"] == []
    assert split["n_fit"] + split["n_validation"] == metrics["n_train"]
    assert {c["name"] for c in candidates} == ALL_CANDIDATES
    best = max(candidates, key=lambda c: c["validation_macro_f1"])
    assert [c["name"] for c in candidates if c["won"]] == [best["name"]] == [metrics["winner"]]
    assert all(c["fit_seconds"] >= 0 and c["validation_per_class"]["High"].keys() == {"precision", "recall"} for c in candidates)
    # The model must beat always answering the most frequent class by a wide margin.
    baseline = next(c for c in candidates if c["name"] == "baseline")
    assert best["validation_macro_f1"] > baseline["validation_macro_f1"] + 0.3


def test_test_labels_never_influence_the_choice(channels, trained, tmp_path):
    """Scramble the test labels: the same winner and validation scores, only test metrics fall."""
    train_dir, _, test_baskets = channels
    rotate = {"LA": "MM", "MM": "UM", "UM": "LA", "XX": "XX"}
    scrambled = [type(item)(item.basket_id, item.shop_week, rotate[item.code], item.basket) for item in test_baskets]
    test_dir = write_channel(tmp_path / "test", scrambled)
    environ = {"SM_MODEL_DIR": str(tmp_path / "model"), "SM_CHANNEL_TRAIN": str(train_dir), "SM_CHANNEL_TEST": str(test_dir), "SM_HPS": '{"search_size": 1}'}
    assert training_entrypoint.main([], environ) == 0
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    original = trained[2]
    assert metrics["winner"] == original["winner"]
    scores = lambda m: [round(c["validation_macro_f1"], 9) for c in m["candidates"]]  # noqa: E731
    assert scores(metrics) == scores(original)
    assert metrics["macro_f1"] < 0.3 < original["macro_f1"]


def test_saved_model_loads_and_carries_its_metadata(trained):
    model = PriceSensitivityModel.load(trained[0], version="7")
    assert model.version == "7"
    assert model.classes == ["LA", "MM", "UM"]
    assert model.metadata["candidate"] == trained[2]["winner"]
    assert model.metadata["hyperparameters"]["seed"] == 42
    assert model.metadata["candidate_params"] == trained[2]["winner_params"]
    assert model.feature_version == FEATURE_VERSION


def test_cli_arguments_win_over_sm_hps():
    job = parse_job(
        ["--logistic_C", "5", "--candidates", "logistic_regression"],
        {"SM_HPS": json.dumps({"logistic_C": "300", "seed": "7", "sagemaker_program": "x"}), "SM_MODEL_DIR": "/m", "SM_CHANNEL_TRAIN": "/t", "SM_CHANNEL_TEST": "/e"},
    )
    assert job.hyperparameters["logistic_C"] == "5"
    assert job.hyperparameters["seed"] == 7
    assert job.hyperparameters["candidates"] == "logistic_regression"
    assert (job.model_dir, job.train_dir, job.test_dir, job.output_data_dir) == (Path("/m"), Path("/t"), Path("/e"), None)


@pytest.mark.parametrize(
    ("hps", "message"),
    [
        ({"learning_rate": 1}, "unknown hyperparameters ['learning_rate']"),
        ({"candidates": "random_forest"}, "candidates='random_forest'"),
        ({"max_iter": "2.5"}, "max_iter='2.5' is not a valid int"),
        ({"logistic_C": "1,0"}, "logistic_C='1,0' must list at least one number, every one > 0"),
        ({"nb_alpha": "small"}, "nb_alpha='small' must be a comma list of numbers"),
        ({"search_size": 0}, "search_size must be >= 1"),
        ({"candidates": "nb_lr_blend"}, "nb_lr_blend blends complement_nb and logistic_regression, so list complement_nb and logistic_regression before it"),
        ({"candidates": "complement_nb,nb_lr_blend,logistic_regression"}, "so list logistic_regression before it"),
        ({"blend_weight": "0.5,1"}, "every weight must be below 1"),
    ],
)
def test_bad_hyperparameters_fail_clearly(hps, message, tmp_path, capsys):
    environ = {"SM_HPS": json.dumps(hps), "SM_OUTPUT_DIR": str(tmp_path)}
    assert training_entrypoint.main([], environ) == 1
    assert message in capsys.readouterr().err
    assert message in (tmp_path / "failure").read_text()  # SageMaker's FailureReason


def test_empty_channel_fails_with_a_clear_message(channels, tmp_path):
    train_dir = channels[0]
    (tmp_path / "empty").mkdir()
    result = run_entrypoint(tmp_path / "model", train_dir, tmp_path / "empty")
    assert result.returncode != 0
    assert "test channel" in result.stderr and "holds no *.parquet files" in result.stderr
    assert not (tmp_path / "model" / "model.joblib").exists()


def test_one_class_channel_fails_with_a_clear_message(channels, tmp_path):
    one_class = write_channel(tmp_path / "train", synthetic_baskets(200, TRAIN_WEEKS, seed=3, codes=("MM", "XX")))
    result = run_entrypoint(tmp_path / "model", one_class, channels[1])
    assert result.returncode != 0
    assert "train channel" in result.stderr and "only one class (MM)" in result.stderr


@pytest.mark.parametrize(
    ("codes", "message"),
    [(("XX",), "none with a trainable label"), (("LA", "ZZ"), "values ['ZZ']")],
)
def test_untrainable_labels_fail_clearly(codes, message, channels, tmp_path, capsys):
    train_dir = write_channel(tmp_path / "train", synthetic_baskets(60, TRAIN_WEEKS, seed=4, codes=codes))
    environ = {"SM_MODEL_DIR": str(tmp_path / "model"), "SM_CHANNEL_TRAIN": str(train_dir), "SM_CHANNEL_TEST": str(channels[1])}
    assert training_entrypoint.main([], environ) == 1
    assert message in capsys.readouterr().err


def test_missing_channel_names_the_variable(tmp_path, capsys):
    environ = {"SM_MODEL_DIR": str(tmp_path / "model"), "SM_CHANNEL_TRAIN": str(tmp_path / "nowhere"), "SM_CHANNEL_TEST": str(tmp_path)}
    assert training_entrypoint.main([], environ) == 1
    assert "set SM_CHANNEL_TRAIN" in capsys.readouterr().err


def test_single_week_train_channel_falls_back_to_a_random_validation_cut(channels, tmp_path):
    train_dir = write_channel(tmp_path / "train", synthetic_baskets(600, [200801], seed=5))
    environ = {"SM_MODEL_DIR": str(tmp_path / "model"), "SM_CHANNEL_TRAIN": str(train_dir), "SM_CHANNEL_TEST": str(channels[1]), "SM_HPS": '{"candidates": "logistic_regression"}'}
    assert training_entrypoint.main([], environ) == 0
    split = json.loads((tmp_path / "model" / "metrics.json").read_text())["split"]
    assert split["method"] == "random" and "single week" in split["how"]
    assert 0 < split["n_validation"] < split["n_fit"]


def test_a_failing_candidate_is_recorded_and_the_others_still_compete(channels, tmp_path):
    """Two High baskets are too few for the SVM's 3-fold calibration: it fails, the others compete."""
    train = synthetic_baskets(400, TRAIN_WEEKS, seed=6, codes=("MM", "UM")) + synthetic_baskets(2, TRAIN_WEEKS[:1], seed=7, codes=("LA",))
    hps = {"candidates": "linear_svm,complement_nb", "search_size": 1}
    environ = {
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_CHANNEL_TRAIN": str(write_channel(tmp_path / "train", train)),
        "SM_CHANNEL_TEST": str(channels[1]),
        "SM_HPS": json.dumps(hps),
    }
    assert training_entrypoint.main([], environ) == 0
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    failed, other = metrics["candidates"]
    assert failed["name"] == "linear_svm" and failed["error"] and failed["won"] is False
    assert metrics["winner"] == "complement_nb" and other["won"] is True


def test_hyperparameters_come_from_sagemakers_config_file_when_sm_hps_is_unset(tmp_path):
    """A SageMaker job whose entrypoint is this script gets its HyperParameters only as a file."""
    (tmp_path / "hyperparameters.json").write_text(json.dumps({"search_size": "3", "candidates": "complement_nb"}))
    job = parse_job([], {"SM_INPUT_CONFIG_DIR": str(tmp_path)})
    assert job.hyperparameters["search_size"] == 3 and job.hyperparameters["candidates"] == "complement_nb"
    assert job.model_dir == Path("/opt/ml/model") and job.train_dir == Path("/opt/ml/input/data/train")
