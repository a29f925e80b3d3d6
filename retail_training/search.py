"""Choosing the model: candidates, settings and feature sets fitted on the earlier train weeks and
scored on the latest ones (validation); the best validation macro-F1 wins. The test channel is
never seen. No Dagster import: this runs inside the training container.

How the search spends its time (docs/training.md, "The search"):
- **Successive halving over feature sets.** Rung 0 fits every candidate on every feature set with
  a 1/eta^k sample of the fit rows; each rung keeps the best 1/eta of the feature sets and gives
  them eta times the rows, until the last rung fits the survivors on all fit rows. Only
  last-rung trials may win; linear SVM, XGBoost and the blend run on the last rung only.
- **A path of C** for the logistic regression: ascending, each C fitted from zero (a warm start
  at a new C stops at once: candidates._fit_logistic), a later rung's first fit warm-started from
  the earlier rung's best; the path stops once `path_patience` settings in a row score below its
  best.
- **A budget** (`budget_seconds`): a trial whose expected time exceeds what is left is not
  started; a running logistic regression or XGBoost is looked at every chunk of iterations and
  stopped when the budget is spent or when, at its recent rate of gain, it cannot reach the best
  score so far in the time left. Every trial records `fit_seconds` and `stop_reason`.
- **A checkpoint** (SageMaker managed spot training syncs /opt/ml/checkpoints to S3): each
  finished trial is saved, so a restarted job skips what it already did.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retail_training.candidates import (
    BLEND,
    blend_params,
    class_positions,
    fit_classifier,
    predict_codes,
    search_space,
    soft_vote,
)
from retail_training.design import Design, View
from retail_training.job import BLEND_MEMBERS, candidate_names, feature_sets, grid
from retail_training.metrics import evaluate

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "search_trials.json"
LAST_RUNG_ONLY = ("linear_svm", "xgboost", BLEND)  # costly, or built from last-rung members


def validation_split(weeks: np.ndarray, codes: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, dict]:
    """A boolean mask of validation rows: the latest train weeks holding >= `fraction` of rows."""
    distinct = np.unique(weeks)[::-1]
    counts = {week: int((weeks == week).sum()) for week in distinct}
    chosen: list[int] = []
    for week in distinct[:-1]:  # always leave at least one week to fit on
        chosen.append(int(week))
        if sum(counts[w] for w in chosen) >= fraction * len(weeks):
            break
    mask = np.isin(weeks, chosen)
    if chosen and len(np.unique(codes[~mask])) >= 2:
        how = f"latest train weeks holding >= {fraction:.0%} of train rows"
        return mask, {"method": "time", "how": how, "validation_weeks": sorted(chosen)}
    # One week only, or the early weeks lack a class: a seeded random cut is the honest fallback.
    mask = np.random.default_rng(seed).random(len(weeks)) < fraction
    reason = "train channel has a single week" if not chosen else "the earlier weeks hold only one class"
    return mask, {"method": "random", "how": f"seeded random {fraction:.0%} of train rows ({reason})", "validation_weeks": []}


@dataclass(frozen=True)
class SearchResult:
    trials: list[dict]  # every trial, in order (stopped ones included, with why)
    candidates: list[dict]  # the best last-rung trial of each candidate: the candidate table
    winner: dict  # the winning trial (name, params incl. feature_set, fit info)
    summary: dict  # budget, rungs, feature sets kept at each rung, elapsed seconds


class TrialCheckpoint:
    """Finished trials in `directory`, valid only for the exact same data and settings."""

    def __init__(self, directory: Path | None, fingerprint: str) -> None:
        self.path = directory / CHECKPOINT_FILE if directory is not None else None
        self.fingerprint = fingerprint
        self.trials: dict[str, dict] = {}
        if self.path is not None and self.path.is_file():
            saved = json.loads(self.path.read_text())
            if saved.get("fingerprint") == fingerprint:
                self.trials = saved.get("trials", {})
                log.info("resuming the search: %d trials already done (checkpoint %s)", len(self.trials), self.path)

    @staticmethod
    def key(name: str, params: Mapping) -> str:
        return json.dumps([name, dict(params)], sort_keys=True)

    def save(self, key: str, trial: dict) -> None:
        self.trials[key] = trial
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staging = self.path.with_suffix(".tmp")
            staging.write_text(json.dumps({"fingerprint": self.fingerprint, "trials": self.trials}))
            staging.replace(self.path)


def fingerprint(codes: np.ndarray, weeks: np.ndarray, validation: np.ndarray, hp: Mapping) -> str:
    digest = hashlib.sha256()
    for array in (codes.astype(str), weeks.astype(np.int64), validation.astype(np.int8)):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps(dict(hp), sort_keys=True, default=str).encode())
    return digest.hexdigest()


class Budget:
    """The search's seconds, shared out between the rungs: what is left of the current rung's share.

    Each rung may spend up to its share of the whole budget (as in Hyperband, every rung gets the
    same): an early rung with many small fits cannot starve the last one, whose fits may win.
    Time a rung leaves unused passes on to the next.
    """

    def __init__(self, seconds: float, n_rungs: int = 1) -> None:
        self.seconds = float(seconds)
        self.n_rungs = n_rungs
        self.started = time.perf_counter()
        self.rung = 0
        self.part, self.parts = 0, 1  # within a rung, each feature set gets its part of the share

    def stage(self, rung: int, part: int = 0, parts: int = 1) -> None:
        self.rung, self.part, self.parts = rung, part, parts

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def remaining(self) -> float:
        if self.seconds <= 0:
            return math.inf
        return self.seconds * (self.rung + (self.part + 1) / self.parts) / self.n_rungs - self.elapsed()


@dataclass
class _Rung:
    """What one rung's trials are fitted on and scored against."""

    number: int
    n_rungs: int
    fit: np.ndarray  # row indices into the design
    validation: np.ndarray
    classes: list[str]
    positions: np.ndarray
    true: np.ndarray
    known: np.ndarray
    stop_positions: np.ndarray
    last_seconds: dict = field(default_factory=dict)  # candidate -> fit seconds of its latest trial here

    @property
    def last(self) -> bool:
        return self.number == self.n_rungs - 1


def run_search(hp: Mapping, design: Design, codes: np.ndarray, validation: np.ndarray, checkpoint: TrialCheckpoint) -> SearchResult:
    sets = feature_sets(hp)
    eta = int(hp["halving_eta"])
    early = [c for c in candidate_names(hp) if c not in (*LAST_RUNG_ONLY, "baseline")]  # what can rank feature sets early
    n_rungs = 1 if eta <= 1 or len(sets) == 1 or not early else 1 + math.ceil(math.log(len(sets), eta) - 1e-9)
    budget = Budget(float(hp["budget_seconds"]), n_rungs)
    fit_rows, validation_rows = np.flatnonzero(~validation), np.flatnonzero(validation)
    rng = np.random.default_rng(int(hp["seed"]))
    shuffled = rng.permutation(fit_rows)
    trials: list[dict] = []
    kept_by_rung = []
    path_start: dict[str, tuple[float, object]] = {}  # feature set -> (best C so far, its classifier): the next rung starts there
    for number in range(n_rungs):
        share = float(eta) ** (number - n_rungs + 1)
        rows = np.sort(shuffled[: max(int(round(share * fit_rows.size)), 1)]) if number < n_rungs - 1 else fit_rows
        rung = _rung(number, n_rungs, rows, validation_rows, codes)
        best_by_set = {}
        for index, feature_set in enumerate(sets):
            budget.stage(number, index, len(sets))
            view = design.view(feature_set)
            own = _set_trials(hp, view, rung, budget, checkpoint, trials, path_start)
            trials.extend(own)
            scored = [t["validation_macro_f1"] for t in own if t.get("validation_macro_f1") is not None]
            best_by_set[feature_set] = max(scored, default=-1.0)
        kept_by_rung.append({"rung": number, "fit_rows": int(rows.size), "feature_sets": {k: round(v, 4) for k, v in best_by_set.items()}})
        if rung.last:
            break
        keep = max(1, math.ceil(len(sets) / eta))
        ranked = sorted(sets, key=lambda s: -best_by_set[s])  # ties: the order given
        survivors, dropped = ranked[:keep], set(ranked[keep:])
        for trial in trials:
            if trial["rung"] != number or not str(trial.get("stop_reason", "")).startswith("completed"):
                continue  # stopped trials keep their own reason
            if trial["params"].get("feature_set") in dropped:
                trial["stop_reason"] = f"halved: feature set ranked below the best {keep} of {len(sets)} at rung {number} ({rows.size:,} fit rows)"
            else:
                trial["stop_reason"] = f"promoted: its feature set went on to rung {number + 1}"
        kept_by_rung[-1]["kept"] = survivors
        sets = [s for s in sets if s in survivors]
    eligible = [t for t in trials if t["rung"] == n_rungs - 1 and t.get("validation_macro_f1") is not None]
    if not eligible:
        raise RuntimeError(f"every candidate failed to train: {[t.get('error') or t.get('stop_reason') for t in trials]}")
    winner = max(eligible, key=lambda t: t["validation_macro_f1"])  # ties go to the first tried
    summary = {"budget_seconds": budget.seconds, "elapsed_seconds": round(budget.elapsed(), 3), "halving_eta": eta, "rungs": kept_by_rung}
    return SearchResult(trials, _candidate_table(trials, winner, n_rungs - 1), winner, summary)


def _rung(number: int, n_rungs: int, rows: np.ndarray, validation_rows: np.ndarray, codes: np.ndarray) -> _Rung:
    classes, positions = class_positions(codes[rows])
    true = codes[validation_rows]
    known = np.isin(true, classes)  # early stopping can only score classes it was fitted on
    stop_positions = np.array([classes.index(c) for c in true[known]])
    return _Rung(number, n_rungs, rows, validation_rows, classes, positions, true, known, stop_positions)


def _set_trials(
    hp: Mapping, view: View, rung: _Rung, budget: Budget, checkpoint: TrialCheckpoint, earlier: list[dict], path_start: dict
) -> list[dict]:
    """Every candidate's trials on one feature set at one rung.

    On a later rung the C path starts at the best C the earlier rung found for this feature set,
    warm-started from that fit's coefficients (same columns, more rows): the smaller C values
    were already beaten on the sample and are recorded as not run.
    """
    trials: list[dict] = []
    members: dict[str, object] = {}  # classifiers fitted here, by trial key: a blend reuses them
    matrices = {}

    def matrix(name: str, rows: np.ndarray):
        key = (view.matrix(name) is view.raw, rows is rung.fit)
        if key not in matrices:
            matrices[key] = view.matrix(name)[rows]
        return matrices[key]

    for name in candidate_names(hp):
        if name in LAST_RUNG_ONLY and not rung.last:
            continue
        if name == "baseline" and rung.number and not rung.last:
            continue
        if name in BLEND_MEMBERS:
            trials.extend(_blend_trials(name, hp, view, rung, trials, members, matrix, checkpoint))
            continue
        previous = None  # the path's last classifier: the next C starts from it
        path_best, below = -1.0, 0
        start = path_start.get(view.feature_set) if name == "logistic_regression" and rung.number else None
        if start is not None:
            previous = start[1]
        for params in search_space(name, hp):
            params = {**params, "feature_set": view.feature_set}
            key = TrialCheckpoint.key(name, params | {"rung": rung.number})
            if start is not None and params["C"] < start[0]:
                trials.append(_not_run(name, params, rung, f"path starts at C={start[0]:g}, the best of rung {rung.number - 1}"))
                continue
            if name == "logistic_regression" and below >= int(hp["path_patience"]):
                trials.append(_not_run(name, params, rung, f"path stopped: {below} settings in a row below its best ({path_best:.4f})"))
                continue
            if key in checkpoint.trials:
                trial, classifier = checkpoint.trials[key], None
            else:
                expected = rung.last_seconds.get(name)
                if expected is not None and expected > budget.remaining():
                    trials.append(_not_run(name, params, rung, f"budget: not started, the last {name} took {expected:.1f} s and "
                                                               f"{max(budget.remaining(), 0):.1f} s of rung {rung.number}'s share are left"))
                    continue
                best = max((t["validation_macro_f1"] for t in [*earlier, *trials] if t["rung"] == rung.number and t.get("validation_macro_f1") is not None), default=None)
                trial, classifier = _trial(name, params, hp, view, rung, matrix, budget, best, previous)
                rung.last_seconds[name] = trial.get("fit_seconds", 0.0)
                checkpoint.save(key, trial)
            trials.append(trial)
            if classifier is not None:
                previous = classifier if name == "logistic_regression" else None
                if any(name in m for m in BLEND_MEMBERS.values()):
                    members[key] = classifier
            score = trial.get("validation_macro_f1")
            if score is not None and score > path_best:
                path_best, below = score, 0
                if name == "logistic_regression" and classifier is not None:
                    path_start[view.feature_set] = (params["C"], classifier)
            elif score is not None:
                below += 1
    return trials


def _not_run(name: str, params: Mapping, rung: _Rung, reason: str) -> dict:
    return {"name": name, "params": dict(params), "rung": rung.number, "n_fit": int(rung.fit.size), "validation_macro_f1": None,
            "fit_seconds": 0.0, "stop_reason": reason}


def _trial(name: str, params: Mapping, hp: Mapping, view: View, rung: _Rung, matrix, budget: Budget, best: float | None, warm):
    fit_matrix, validation_matrix = matrix(name, rung.fit), matrix(name, rung.validation)
    stop_on = (validation_matrix[rung.known], rung.stop_positions) if rung.known.any() else None
    watch = _watch(rung, validation_matrix, budget, best)
    try:
        classifier, info = fit_classifier(name, _fit_params(params), hp, fit_matrix, rung.positions, stop_on=stop_on, warm=warm, watch=watch)
    except Exception as error:  # one broken candidate (e.g. a bad setting) must not sink the rest
        log.exception("candidate %s %s failed to train", name, params)
        return _not_run(name, params, rung, "failed") | {"error": f"{type(error).__name__}: {error}"}, None
    trial = _scored(name, params, classifier, rung, validation_matrix) | info
    trial["stop_reason"] = info.pop("stopped", None) or _finished(name, info)
    trial.pop("stopped", None)
    log.info("rung %d %s %s: validation macro-F1 %.4f, fit %.1fs (%s)", rung.number, name, params, trial["validation_macro_f1"], info["fit_seconds"], trial["stop_reason"])
    return trial, classifier


def _fit_params(params: Mapping) -> dict:
    return {k: v for k, v in params.items() if k != "feature_set"}


def _finished(name: str, info: Mapping) -> str:
    if "converged" in info:
        return "completed: converged" if info["converged"] else f"completed: max_iter ({info['iterations']} iterations) reached"
    if "boosting_rounds" in info:
        return f"completed: early stopping kept {info['boosting_rounds']} rounds"
    return "completed"


def _watch(rung: _Rung, validation_matrix, budget: Budget, best: float | None):
    """A look between chunks: stop when the budget is spent, or when the trial cannot catch up."""
    history: list[tuple[float, float]] = []

    def look(classifier, done: int) -> str | None:
        left = budget.remaining()
        if left <= 0:
            return f"budget: rung {rung.number}'s share of the search's {budget.seconds:.0f} s ran out after {done} iterations"
        if best is None:
            return None
        score = evaluate(rung.true, predict_codes(classifier, rung.classes, validation_matrix))["macro_f1"]
        now = time.perf_counter()
        history.append((now, score))
        if len(history) < 2:
            return None
        (then, before), _ = history[-2], history[-1]
        rate = max(score - before, 0.0) / max(now - then, 1e-9)  # macro-F1 gained per second lately
        if score + rate * left < best:
            return (f"cannot beat the best ({best:.4f}) in the {left:.0f} s left: {score:.4f} after {done} iterations, "
                    f"gaining {rate * 60:.4f} a minute")
        return None

    return look


def _scored(name: str, params: Mapping, classifier, rung: _Rung, validation_matrix) -> dict:
    """A fitted classifier's trial: its validation scores, all from `evaluate`."""
    scores = evaluate(rung.true, predict_codes(classifier, rung.classes, validation_matrix))
    return {
        "name": name,
        "params": dict(params),
        "rung": rung.number,
        "n_fit": int(rung.fit.size),
        "validation_macro_f1": scores["macro_f1"],
        "validation_accuracy": scores["accuracy"],
        "validation_per_class": {k: {"precision": v["precision"], "recall": v["recall"]} for k, v in scores["per_class"].items()},
    }


def _blend_trials(name: str, hp: Mapping, view: View, rung: _Rung, trials: list[dict], fitted: dict, matrix, checkpoint: TrialCheckpoint) -> list[dict]:
    """One trial per blend weight, voting with the best member trials' classifiers: nothing refitted.

    Only after a restart, when the members' trials came from the checkpoint, are the two best
    settings fitted again (from zero: a logistic regression that was warm-started along the C
    path may come out slightly different).
    """
    best = {}
    for member in BLEND_MEMBERS[name]:
        scored = [t for t in trials if t["name"] == member and t.get("validation_macro_f1") is not None]
        if not scored:
            log.warning("candidate %s skipped: %s has no trained setting to blend", name, member)
            return [_not_run(name, {"feature_set": view.feature_set}, rung, "failed") | {"error": f"{member} has no trained setting to blend"}]
        best[member] = max(scored, key=lambda t: t["validation_macro_f1"])  # the candidate table's choice
    members: list | None = None
    blended = []
    for weight in grid(hp, "blend_weight"):
        params = blend_params(weight, {member: _fit_params(trial["params"]) for member, trial in best.items()}) | {"feature_set": view.feature_set}
        key = TrialCheckpoint.key(name, params | {"rung": rung.number})
        if key not in checkpoint.trials:
            started = time.perf_counter()
            if members is None:
                members = [_member(member, trial["params"], hp, fitted, rung, matrix) for member, trial in best.items()]
            trial = _scored(name, params, soft_vote(params, members), rung, matrix(BLEND, rung.validation))
            trial |= {"fit_seconds": round(time.perf_counter() - started, 3), "stop_reason": "completed: built from the members' trials"}
            log.info("candidate %s %s: validation macro-F1 %.4f, built in %.2fs", name, params, trial["validation_macro_f1"], trial["fit_seconds"])
            checkpoint.save(key, trial)
        blended.append(checkpoint.trials[key])
    return blended


def _member(name: str, params: Mapping, hp: Mapping, fitted: dict, rung: _Rung, matrix):
    classifier = fitted.get(TrialCheckpoint.key(name, dict(params) | {"rung": rung.number}))
    if classifier is None:
        log.info("refitting %s %s for the blend: its trial came from the checkpoint", name, dict(params))
        classifier, _ = fit_classifier(name, _fit_params(params), hp, matrix(name, rung.fit), rung.positions)
    return classifier


def _candidate_table(trials: list[dict], winner: dict, last_rung: int) -> list[dict]:
    """One row per candidate: its best last-rung setting (or its error), how many it tried, who won."""
    table = []
    for name in dict.fromkeys(t["name"] for t in trials):
        own = [t for t in trials if t["name"] == name]
        last = [t for t in own if t["rung"] == last_rung]
        scored = [t for t in last if t.get("validation_macro_f1") is not None]
        best = max(scored, key=lambda t: t["validation_macro_f1"]) if scored else (last or own)[0]
        table.append({**best, "settings_tried": len(own), "won": best is winner})
    return table

