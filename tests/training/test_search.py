"""The candidates, the search and the one metrics function, run in-process on synthetic channels."""

from __future__ import annotations

import json
import time

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

from retail_training.candidates import class_positions, fit_classifier
from retail_training.design import Design
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


ALL = "products+hierarchy+basket"  # one feature set: no halving


def test_search_size_sets_how_many_settings_each_candidate_tries(channels, tmp_path):
    """search_size values spread over each grid, ends included; the C path runs ascending."""
    metrics = run(channels, tmp_path, search_size=2, candidates="baseline,complement_nb,logistic_regression", feature_sets=ALL)
    trials = metrics["search"]["trials"]
    assert [(t["name"], t["params"]) for t in trials] == [
        ("baseline", {"feature_set": ALL}), ("complement_nb", {"alpha": 0.03, "feature_set": ALL}),
        ("complement_nb", {"alpha": 1.0, "feature_set": ALL}), ("logistic_regression", {"C": 0.01, "feature_set": ALL}),
        ("logistic_regression", {"C": 1000.0, "feature_set": ALL})]
    best_lr = max((t for t in trials if t["name"] == "logistic_regression"), key=lambda t: t["validation_macro_f1"])
    table = {c["name"]: c for c in metrics["candidates"]}
    assert table["logistic_regression"]["params"] == best_lr["params"] and table["logistic_regression"]["settings_tried"] == 2
    assert all(t["converged"] for t in trials if t["name"] == "logistic_regression")  # lbfgs within max_iter
    assert [t["warm_start"] for t in trials if t["name"] == "logistic_regression"] == [False, False]  # each C from zero


def test_xgboost_stops_early_on_the_validation_weeks_and_the_refit_keeps_those_rounds(channels, tmp_path):
    metrics = run(channels, tmp_path, candidates="xgboost", search_size=1, xgb_n_estimators=150, xgb_early_stopping_rounds=5,
                  feature_sets=ALL)
    rounds = metrics["candidates"][0]["boosting_rounds"]
    assert 1 <= rounds < 150
    model = PriceSensitivityModel.load(tmp_path / "model")
    assert model.pipeline.named_steps["classify"].n_estimators == rounds == metrics["winner_params"]["n_estimators"]


def test_a_restarted_job_reuses_the_trials_in_its_checkpoint(channels, tmp_path):
    """What a spot interruption relies on: finished trials are read back, not refitted."""
    checkpoints = tmp_path / "checkpoints"
    first = run(channels, tmp_path, candidates="complement_nb,logistic_regression", search_size=1, checkpoint=checkpoints, feature_sets=ALL)
    assert first["winner"] == "complement_nb"  # the label lives in the products: naive Bayes wins here
    saved = json.loads((checkpoints / CHECKPOINT_FILE).read_text())
    for trial in saved["trials"].values():  # tamper: if the restart refitted, it would not see this
        if trial["name"] == "logistic_regression":
            trial["validation_macro_f1"] = 0.999
    (checkpoints / CHECKPOINT_FILE).write_text(json.dumps(saved))
    again = run(channels, tmp_path, candidates="complement_nb,logistic_regression", search_size=1, checkpoint=checkpoints, feature_sets=ALL)
    assert again["winner"] == "logistic_regression"
    other_data = run(channels, tmp_path, candidates="complement_nb,logistic_regression", search_size=1, seed=5, checkpoint=checkpoints,
                     feature_sets=ALL)
    assert other_data["winner"] == "complement_nb"  # another seed: the old checkpoint does not apply


def test_one_metrics_function_scores_every_class_even_when_one_is_missing():
    true = np.array(["LA", "MM", "MM", "UM"])
    predicted = np.array(["MM", "MM", "MM", "UM"])  # never says LA
    scores = evaluate(true, predicted)
    assert scores["macro_f1"] == pytest.approx(f1_score(true, predicted, labels=CODE_ORDER, average="macro", zero_division=0))
    assert scores["per_class"]["High"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["confusion_matrix"]["matrix"] == [[0, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert evaluate(np.array([]), np.array([]))["macro_f1"] is None


@pytest.mark.parametrize("true_labels", [("LA", "MM", "UM"), ("LA", "MM", "UM", "XX"), ("MM", "UM")])
def test_the_metrics_are_scikit_learns_on_any_labels(true_labels):
    """evaluate counts from integer codes (fast enough to score every trial); the figures are scikit-learn's."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    rng = np.random.default_rng(len(true_labels))
    true, predicted = rng.choice(true_labels, 5000), rng.choice(["LA", "MM", "UM", "XX"], 5000, p=[0.3, 0.4, 0.29, 0.01])
    scores = evaluate(true, predicted)
    expected = precision_recall_fscore_support(true, predicted, labels=CODE_ORDER, zero_division=0)
    for field, values in zip(("precision", "recall", "f1", "support"), expected, strict=True):
        assert [scores["per_class"][name][field] for name in ("High", "Medium", "Low")] == pytest.approx(list(values))
    assert scores["accuracy"] == pytest.approx(accuracy_score(true, predicted))
    assert scores["macro_f1"] == pytest.approx(f1_score(true, predicted, labels=CODE_ORDER, average="macro", zero_division=0))
    assert scores["confusion_matrix"]["matrix"] == confusion_matrix(true, predicted, labels=CODE_ORDER).tolist()


def test_anonymous_and_identified_baskets_are_scored_apart(channels, tmp_path):
    metrics = run(channels, tmp_path, candidates="complement_nb", search_size=1)
    anonymous, identified = metrics["by_customer"]["anonymous"], metrics["by_customer"]["identified"]
    test_baskets = [item for item in channels[2] if item.code != "XX"]
    assert anonymous["n"] == sum(item.basket.customer is None for item in test_baskets)
    assert anonymous["n"] + identified["n"] == metrics["n_test"]
    assert 0 < anonymous["macro_f1"] <= 1 and 0 < identified["macro_f1"] <= 1


def test_the_default_search_covers_both_regimes():
    """C from strong (0.01) to weak (1000) regularisation, on a log grid, and four feature sets."""
    values = sorted(float(c) for c in HYPERPARAMETER_DEFAULTS["logistic_C"].split(","))
    assert values[0] <= 0.01 and values[-1] >= 1000
    assert max(b / a for a, b in zip(values, values[1:])) <= 10  # no gap wider than a decade
    assert HYPERPARAMETER_DEFAULTS["search_size"] == 0 and HYPERPARAMETER_DEFAULTS["budget_seconds"] > 0
    assert HYPERPARAMETER_DEFAULTS["feature_sets"].split(",") == ["hierarchy", "products", "products+hierarchy", ALL]


BLEND_ONLY = {"candidates": "complement_nb,logistic_regression,nb_lr_blend", "search_size": 2, "blend_weight": "0.7,0.5,0.3",
              "feature_sets": ALL}


def spied_search(channels, monkeypatch, **hps):
    """run_search on the train channel, with every classifier the search fits recorded."""
    hp = {**HYPERPARAMETER_DEFAULTS, **BLEND_ONLY, **hps}
    channel: Channel = read_channel("train", channels[0])
    design, codes = Design.from_frame(channel.frame), channel.codes()
    validation, _ = validation_split(channel.weeks(), codes, hp["validation_fraction"], hp["seed"])
    fitted = []

    def recording(name, params, *args, **kwargs):
        classifier, info = fit_classifier(name, params, *args, **kwargs)
        fitted.append((name, dict(params), classifier))
        return classifier, info

    monkeypatch.setattr(search, "fit_classifier", recording)
    result = run_search(hp, design, codes, validation, TrialCheckpoint(None, "spy"))
    return result, fitted, design, codes, validation


def test_the_blend_votes_with_the_members_the_search_already_fitted(channels, monkeypatch):
    result, fitted, design, codes, validation = spied_search(channels, monkeypatch)
    assert [(name, params) for name, params, _ in fitted] == [  # the four member settings, each fitted once
        ("complement_nb", {"alpha": 0.03}), ("complement_nb", {"alpha": 1.0}), ("logistic_regression", {"C": 0.01}),
        ("logistic_regression", {"C": 1000.0})]
    blends = [t for t in result.trials if t["name"] == "nb_lr_blend"]
    assert [t["params"]["nb_weight"] for t in blends] == [0.7, 0.5, 0.3]  # every weight, whatever search_size
    table = {c["name"]: c for c in result.candidates}
    scaled = design.view(ALL).scaled[np.flatnonzero(validation)]
    classes, _ = class_positions(codes[~validation])
    members = []
    for name, prefix in (("complement_nb", "nb_"), ("logistic_regression", "lr_")):
        best = {k: v for k, v in table[name]["params"].items() if k != "feature_set"}
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
    result = run_search(hp, Design.from_frame(channel.frame), channel.codes(), validation, TrialCheckpoint(None, "x"))
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
    assert metrics["winner"] == "nb_lr_blend" and {**metrics["winner_params"], "feature_set": metrics["feature_set"]} == chosen["params"]
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
    # The members are refitted from zero, not along the warm-started C path: close, not bit-equal.
    assert len(scores(again)) == len(scores(first)) and np.allclose(scores(again), scores(first), atol=0.03)


def test_the_feature_set_is_searched_and_the_artefact_reads_only_the_chosen_one(channels, tmp_path):
    """Rung 0 fits every feature set on a third of the fit rows; the best one goes on to all of them."""
    sets = "products,products+hierarchy+basket"
    metrics = run(channels, tmp_path, candidates="complement_nb,logistic_regression", feature_sets=sets, search_size=2, halving_eta=2)
    trials = metrics["search"]["trials"]
    first, last = metrics["search"]["rungs"]
    assert set(first["feature_sets"]) == set(sets.split(",")) and last["feature_sets"].keys() == {metrics["feature_set"]}
    assert first["fit_rows"] < last["fit_rows"] == metrics["split"]["n_fit"]
    assert metrics["feature_set"] == max(first["feature_sets"], key=first["feature_sets"].get)  # rung 0's best went on
    dropped = next(s for s in sets.split(",") if s != metrics["feature_set"])
    assert all(t["stop_reason"].startswith("halved") for t in trials if t["params"]["feature_set"] == dropped and t.get("validation_macro_f1"))
    assert next(c for c in metrics["candidates"] if c["won"])["rung"] == 1  # only the last rung's trials may win
    names = PriceSensitivityModel.load(tmp_path / "model").pipeline.named_steps["vectorize"].feature_names_
    families = {"products": ("product=",), "products+hierarchy+basket": ("",)}[metrics["feature_set"]]
    assert names and all(name.startswith(families) for name in names) and len(names) == metrics["n_features"]


def test_the_search_respects_its_budget_and_records_what_it_stopped(channels, tmp_path):
    """With no time left, the C path is cut short: trials are stopped or not started, and say why."""
    unlimited = run(channels, tmp_path / "unlimited", candidates="complement_nb,logistic_regression", feature_sets=ALL, budget_seconds=0,
                    path_patience=20)
    tight = run(channels, tmp_path / "tight", candidates="complement_nb,logistic_regression", feature_sets=ALL, budget_seconds=0.001,
                path_patience=20)
    ran = lambda m: [t for t in m["search"]["trials"] if t["name"] == "logistic_regression" and t["fit_seconds"] > 0]  # noqa: E731
    path = len(HYPERPARAMETER_DEFAULTS["logistic_C"].split(","))
    assert len(ran(unlimited)) == path and 1 <= len(ran(tight)) < path
    stopped = [t for t in tight["search"]["trials"] if t["stop_reason"].startswith("budget")]
    assert stopped and all(t["name"] == "logistic_regression" or t["fit_seconds"] == 0 for t in stopped)
    assert tight["search"]["budget_seconds"] == 0.001 and tight["winner"]  # a model all the same


def test_a_trial_that_cannot_catch_up_in_the_time_left_is_stopped():
    """The look between chunks of iterations: at its recent gain a trial would not reach the best."""
    codes = np.array(["LA", "MM", "UM"] * 20)
    rung = search._rung(1, 2, np.arange(30), np.arange(30, 60), codes)
    validation = np.eye(3)[np.tile([0, 1, 2], 10)]
    budget = search.Budget(3600)
    look = search._watch(rung, validation, budget, best=0.99)

    class Constant:  # always answers MM: macro-F1 about 0.22, and it never improves
        def predict(self, matrix):
            return np.ones(matrix.shape[0], dtype=int)

    assert look(Constant(), 100) is None  # one look tells no rate yet
    reason = look(Constant(), 200)
    assert reason.startswith("cannot beat the best (0.9900)") and "200 iterations" in reason
    spent = search.Budget(0.0001)
    time.sleep(0.01)
    assert search._watch(rung, validation, spent, best=None)(Constant(), 100).startswith("budget: rung 1's share")


def test_metrics_and_the_model_card_give_every_trial_its_fit_seconds_and_stop_reason(channels, tmp_path):
    from retail_assets.training.report import model_card

    metrics = run(channels, tmp_path, candidates="baseline,complement_nb,logistic_regression,nb_lr_blend", search_size=3)
    trials = metrics["search"]["trials"]
    assert trials and all(isinstance(t["fit_seconds"], float | int) and t["stop_reason"] for t in trials)
    assert {t["stop_reason"].split(":")[0] for t in trials} >= {"completed", "halved"}
    card = model_card("v1", metrics)
    assert "stopped_because" in card and "fit_s" in card
    for trial in trials:
        assert trial["stop_reason"] in card
