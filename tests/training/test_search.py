"""The candidates, the search and the one metrics function, run in-process on synthetic channels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.helpers.training_data import write_train_test
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.naive_bayes import ComplementNB
from sklearn.preprocessing import MaxAbsScaler
from xgboost import XGBClassifier

from retail_training.candidates import Design, class_positions, fit_classifier
from retail_training.entrypoint import train
from retail_training.job import BLEND_MEMBERS, CANDIDATES, HYPERPARAMETER_DEFAULTS, parse_job
from retail_training.metrics import CODE_ORDER, evaluate
from retail_training import search
from retail_training.job import Channel, read_channel
from retail_training.search import CHECKPOINT_FILE, TrialCheckpoint, run_search, validation_split
from retail_model.artifact import PriceSensitivityModel
from retail_model.blend import SoftVote

ALLOWED = {"baseline": DummyClassifier, "logistic_regression": LogisticRegression, "complement_nb": ComplementNB,
           "linear_svm": CalibratedClassifierCV, "xgboost": XGBClassifier}


@pytest.fixture(scope="module")
def channels(tmp_path_factory):
    return write_train_test(tmp_path_factory.mktemp("search-channels"), n_train=1200, n_test=400, seed=3)


def run(channels, tmp_path, checkpoint=None, **hps) -> dict:
    environ = {"SM_MODEL_DIR": str(tmp_path / "model"), "SM_CHANNEL_TRAIN": str(channels[0]), "SM_CHANNEL_TEST": str(channels[1]),
               "SM_HPS": json.dumps(hps)}
    return train(parse_job(["--checkpoint_dir", str(checkpoint)] if checkpoint else [], environ))


@pytest.mark.parametrize("name", [c for c in CANDIDATES if c not in BLEND_MEMBERS])  # the blend: below
def test_every_candidate_is_a_pipeline_the_api_can_serve(name, channels, tmp_path):
    """DictVectorizer -> optional MaxAbsScaler -> one of the agreed classifiers, whatever wins."""
    metrics = run(channels, tmp_path, candidates=name, search_size=1)
    model = PriceSensitivityModel.load(tmp_path / "model")
    steps = model.pipeline.named_steps
    assert isinstance(steps["vectorize"], DictVectorizer)
    assert list(steps) in (["vectorize", "classify"], ["vectorize", "scale", "classify"])
    assert "scale" not in steps or isinstance(steps["scale"], MaxAbsScaler)
    assert type(steps["classify"]) is ALLOWED[name]
    assert metrics["winner"] == name and metrics["refit"]["fit_seconds"] >= 0
    predictions = model.predict_dicts([{"product=PRD0000001": 1.0}, {}])
    assert all(abs(sum(p.probabilities.values()) - 1) < 1e-9 for p in predictions)
    if name != "baseline":
        assert metrics["top_features"]["by_class" if name != "xgboost" else "overall"]


def test_search_size_sets_how_many_settings_each_candidate_tries(channels, tmp_path):
    metrics = run(channels, tmp_path, search_size=2, candidates="baseline,complement_nb,logistic_regression")
    trials = metrics["search"]["trials"]
    assert [(t["name"], t["params"]) for t in trials] == [
        ("baseline", {}), ("complement_nb", {"alpha": 0.2}), ("complement_nb", {"alpha": 0.5}),
        ("logistic_regression", {"C": 1.0}), ("logistic_regression", {"C": 3.0})]
    best_lr = max((t for t in trials if t["name"] == "logistic_regression"), key=lambda t: t["validation_macro_f1"])
    table = {c["name"]: c for c in metrics["candidates"]}
    assert table["logistic_regression"]["params"] == best_lr["params"] and table["logistic_regression"]["settings_tried"] == 2
    assert all(t["converged"] for t in trials if t["name"] == "logistic_regression")  # lbfgs within max_iter


def test_xgboost_stops_early_on_the_validation_weeks_and_the_refit_keeps_those_rounds(channels, tmp_path):
    metrics = run(channels, tmp_path, candidates="xgboost", search_size=1, xgb_n_estimators=150, xgb_early_stopping_rounds=5)
    rounds = metrics["candidates"][0]["boosting_rounds"]
    assert 1 <= rounds < 150
    model = PriceSensitivityModel.load(tmp_path / "model")
    assert model.pipeline.named_steps["classify"].n_estimators == rounds == metrics["winner_params"]["n_estimators"]


def test_a_restarted_job_reuses_the_trials_in_its_checkpoint(channels, tmp_path):
    """What a spot interruption relies on: finished trials are read back, not refitted."""
    checkpoints = tmp_path / "checkpoints"
    first = run(channels, tmp_path, candidates="complement_nb,logistic_regression", search_size=1, checkpoint=checkpoints)
    assert first["winner"] == "complement_nb"  # the label lives in the products: naive Bayes wins here
    saved = json.loads((checkpoints / CHECKPOINT_FILE).read_text())
    for trial in saved["trials"].values():  # tamper: if the restart refitted, it would not see this
        if trial["name"] == "logistic_regression":
            trial["validation_macro_f1"] = 0.999
    (checkpoints / CHECKPOINT_FILE).write_text(json.dumps(saved))
    again = run(channels, tmp_path, candidates="complement_nb,logistic_regression", search_size=1, checkpoint=checkpoints)
    assert again["winner"] == "logistic_regression"
    other_data = run(channels, tmp_path, candidates="complement_nb,logistic_regression", search_size=1, seed=5, checkpoint=checkpoints)
    assert other_data["winner"] == "complement_nb"  # another seed: the old checkpoint does not apply


def test_one_metrics_function_scores_every_class_even_when_one_is_missing():
    true = np.array(["LA", "MM", "MM", "UM"])
    predicted = np.array(["MM", "MM", "MM", "UM"])  # never says LA
    scores = evaluate(true, predicted)
    assert scores["macro_f1"] == pytest.approx(f1_score(true, predicted, labels=CODE_ORDER, average="macro", zero_division=0))
    assert scores["per_class"]["High"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["confusion_matrix"]["matrix"] == [[0, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert evaluate(np.array([]), np.array([]))["macro_f1"] is None


def test_anonymous_and_identified_baskets_are_scored_apart(channels, tmp_path):
    metrics = run(channels, tmp_path, candidates="complement_nb", search_size=1)
    anonymous, identified = metrics["by_customer"]["anonymous"], metrics["by_customer"]["identified"]
    test_baskets = [item for item in channels[2] if item.code != "XX"]
    assert anonymous["n"] == sum(item.basket.customer is None for item in test_baskets)
    assert anonymous["n"] + identified["n"] == metrics["n_test"]
    assert 0 < anonymous["macro_f1"] <= 1 and 0 < identified["macro_f1"] <= 1


def test_the_default_search_is_small():
    """The default tries two settings per candidate: a handful of fits, so a pipeline run stays quick."""
    assert HYPERPARAMETER_DEFAULTS["search_size"] == 2
    design = Design.fit([{"a": 1.0}, {"b": 1.0}, {"a": 1.0, "b": 1.0}])
    classes, positions = class_positions(np.array(["LA", "MM", "LA"]))
    classifier, info = fit_classifier("complement_nb", {"alpha": 0.2}, HYPERPARAMETER_DEFAULTS, design.scaled, positions)
    assert classes == ["LA", "MM"] and info["fit_seconds"] >= 0 and classifier.classes_.tolist() == [0, 1]


BLEND_ONLY = {"candidates": "complement_nb,logistic_regression,nb_lr_blend", "search_size": 2, "blend_weight": "0.7,0.5,0.3"}


def spied_search(channels, monkeypatch, **hps):
    """run_search on the train channel, with every classifier the search fits recorded."""
    hp = {**HYPERPARAMETER_DEFAULTS, **BLEND_ONLY, **hps}
    channel: Channel = read_channel("train", channels[0])
    rows, codes = channel.features(), channel.codes()
    validation, _ = validation_split(channel.weeks(), codes, hp["validation_fraction"], hp["seed"])
    fitted = []

    def recording(name, params, *args, **kwargs):
        classifier, info = fit_classifier(name, params, *args, **kwargs)
        fitted.append((name, dict(params), classifier))
        return classifier, info

    monkeypatch.setattr(search, "fit_classifier", recording)
    result = run_search(hp, rows, codes, validation, TrialCheckpoint(None, "spy"))
    return result, fitted, rows, codes, validation


def test_the_blend_votes_with_the_members_the_search_already_fitted(channels, monkeypatch):
    result, fitted, rows, codes, validation = spied_search(channels, monkeypatch)
    assert [(name, params) for name, params, _ in fitted] == [  # the four member settings, each fitted once
        ("complement_nb", {"alpha": 0.2}), ("complement_nb", {"alpha": 0.5}), ("logistic_regression", {"C": 1.0}),
        ("logistic_regression", {"C": 3.0})]
    blends = [t for t in result.trials if t["name"] == "nb_lr_blend"]
    assert [t["params"]["nb_weight"] for t in blends] == [0.7, 0.5, 0.3]  # every weight, whatever search_size
    table = {c["name"]: c for c in result.candidates}
    design = Design.fit([r for r, v in zip(rows, validation, strict=True) if not v])
    _, scaled = design.transform([r for r, v in zip(rows, validation, strict=True) if v])
    classes, _ = class_positions(codes[~validation])
    members = []
    for name, prefix in (("complement_nb", "nb_"), ("logistic_regression", "lr_")):
        best = table[name]["params"]
        assert all(t["params"] == {**t["params"], **{prefix + k: v for k, v in best.items()}} for t in blends)
        members.append(next(c for n, p, c in fitted if n == name and p == best))
    for trial in blends:  # the score is evaluate() of the weighted member probabilities
        weight = trial["params"]["nb_weight"]
        probabilities = weight * members[0].predict_proba(scaled) + (1 - weight) * members[1].predict_proba(scaled)
        expected = evaluate(codes[validation], np.asarray(classes)[probabilities.argmax(axis=1)])
        assert trial["validation_macro_f1"] == expected["macro_f1"] and trial["fit_seconds"] >= 0
    assert table["nb_lr_blend"]["validation_macro_f1"] == max(t["validation_macro_f1"] for t in blends)
    assert table["nb_lr_blend"]["settings_tried"] == 3
    assert result.winner["validation_macro_f1"] == max(c["validation_macro_f1"] for c in result.candidates)


def test_a_blend_without_a_trained_member_is_skipped_and_the_others_compete(channels, monkeypatch):
    def failing_regression(name, *args, **kwargs):
        if name == "logistic_regression":
            raise RuntimeError("no convergence at all")
        return fit_classifier(name, *args, **kwargs)

    monkeypatch.setattr(search, "fit_classifier", failing_regression)
    hp = {**HYPERPARAMETER_DEFAULTS, **BLEND_ONLY, "search_size": 1}
    channel = read_channel("train", channels[0])
    validation, _ = validation_split(channel.weeks(), channel.codes(), hp["validation_fraction"], hp["seed"])
    result = run_search(hp, channel.features(), channel.codes(), validation, TrialCheckpoint(None, "x"))
    blend = next(c for c in result.candidates if c["name"] == "nb_lr_blend")
    assert blend["validation_macro_f1"] is None and blend["error"] == "logistic_regression has no trained setting to blend"
    assert result.winner["name"] == "complement_nb"


def test_a_blend_winner_refits_its_members_and_serves_from_the_artefact(channels, tmp_path):
    """The blend is made to win through its checkpoint (tampered as in the spot-restart test)."""
    checkpoints = tmp_path / "checkpoints"
    first = run(channels, tmp_path, checkpoint=checkpoints, **BLEND_ONLY)
    saved = json.loads((checkpoints / CHECKPOINT_FILE).read_text())
    blend_keys = [k for k, t in saved["trials"].items() if t["name"] == "nb_lr_blend"]
    chosen = saved["trials"][blend_keys[1]]
    chosen["validation_macro_f1"] = 0.999
    (checkpoints / CHECKPOINT_FILE).write_text(json.dumps(saved))
    metrics = run(channels, tmp_path, checkpoint=checkpoints, **BLEND_ONLY)
    assert metrics["winner"] == "nb_lr_blend" and metrics["winner_params"] == chosen["params"]
    assert set(metrics["refit"]["members"]) == {"complement_nb", "logistic_regression"}
    model = PriceSensitivityModel.load(tmp_path / "model")
    vote = model.pipeline.named_steps["classify"]
    assert isinstance(vote, SoftVote) and list(vote.weights) == [chosen["params"]["nb_weight"], 1 - chosen["params"]["nb_weight"]]
    assert [type(m) for m in vote.estimators] == [ComplementNB, LogisticRegression]
    assert vote.estimators[0].alpha == chosen["params"]["nb_alpha"] and vote.estimators[1].C == chosen["params"]["lr_C"]
    assert vote.estimators[0].feature_count_.shape[1] == metrics["n_features"]  # refit on every train week
    rows = [{"product=PRD0000001": 1.0}, {}]
    assert model.prepare().kind == "soft_vote"
    assert model.score(rows)[0] == [p.code for p in model.predict_dicts(rows)]
    assert metrics["top_features"]["members"] and metrics["top_features"]["by_class"]
    # A restart whose checkpoint lost the blend's trials rebuilds them (members refitted): same scores.
    saved["trials"] = {k: t for k, t in saved["trials"].items() if k not in blend_keys}
    (checkpoints / CHECKPOINT_FILE).write_text(json.dumps(saved))
    again = run(channels, tmp_path, checkpoint=checkpoints, **BLEND_ONLY)
    scores = lambda m: [t["validation_macro_f1"] for t in m["search"]["trials"] if t["name"] == "nb_lr_blend"]  # noqa: E731
    assert scores(again) == scores(first)
