"""Choosing the model: every candidate and setting fitted on the earlier train weeks and scored on
the latest ones (validation), the best validation macro-F1 wins. The test channel is never seen.

The search is small on purpose (`search_size` settings per candidate, first ones first). The
blend (nb_lr_blend) fits nothing: it votes with the best member trials' classifiers, one trial
per `blend_weight`, and is scored on the same validation weeks. With a
checkpoint directory (SageMaker managed spot training syncs /opt/ml/checkpoints to S3), each
finished trial is saved, so a job restarted after a spot interruption skips what it already did.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retail_training.candidates import (
    Design,
    blend_params,
    class_positions,
    fit_classifier,
    predict_codes,
    search_space,
    soft_vote,
)
from retail_training.job import BLEND_MEMBERS, candidate_names, grid
from retail_training.metrics import evaluate

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "search_trials.json"


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
    trials: list[dict]  # every fit tried, in order
    candidates: list[dict]  # the best trial of each candidate: the candidate table
    winner: dict  # the winning trial (name, params, fit info)


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


@dataclass(frozen=True)
class _Split:
    """What every trial is fitted on and scored against (built once per search)."""

    design: Design
    classes: list[str]
    positions: np.ndarray  # fit rows' class positions
    true: np.ndarray  # validation rows' codes
    validation: tuple  # validation rows (raw, scaled)
    known: np.ndarray  # validation rows of a class the fit rows hold
    stop_positions: np.ndarray


def run_search(
    hp: Mapping, rows: list[dict], codes: np.ndarray, validation: np.ndarray, checkpoint: TrialCheckpoint
) -> SearchResult:
    fit_rows = [r for r, v in zip(rows, validation, strict=True) if not v]
    validation_rows = [r for r, v in zip(rows, validation, strict=True) if v]
    design = Design.fit(fit_rows)
    classes, positions = class_positions(codes[~validation])
    known = np.isin(codes[validation], classes)  # early stopping can only score classes it was fitted on
    stop_positions = np.array([classes.index(c) for c in codes[validation][known]])
    split = _Split(design, classes, positions, codes[validation], design.transform(validation_rows), known, stop_positions)
    trials: list[dict] = []
    members: dict[str, object] = {}  # blend members fitted in this run, by trial key: a blend reuses them
    for name in candidate_names(hp):
        if name in BLEND_MEMBERS:
            trials.extend(_blend_trials(name, hp, trials, members, split, checkpoint))
            continue
        for params in search_space(name, hp):
            key = TrialCheckpoint.key(name, params)
            if key not in checkpoint.trials:
                trial, classifier = _trial(name, params, hp, split)
                checkpoint.save(key, trial)
                if classifier is not None and any(name in m for m in BLEND_MEMBERS.values()):
                    members[key] = classifier
            trials.append(checkpoint.trials[key])
    scored = [t for t in trials if t.get("validation_macro_f1") is not None]
    if not scored:
        raise RuntimeError(f"every candidate failed to train: {[t.get('error') for t in trials]}")
    winner = max(scored, key=lambda t: t["validation_macro_f1"])  # ties go to the first tried
    return SearchResult(trials, _candidate_table(trials, winner), winner)


def _trial(name: str, params: Mapping, hp: Mapping, split: _Split) -> tuple[dict, object | None]:
    design = split.design
    matrix = design.matrix_for(name, design.raw, design.scaled)
    validation_matrix = design.matrix_for(name, *split.validation)
    stop_on = (validation_matrix[split.known], split.stop_positions) if split.known.any() else None
    try:
        classifier, info = fit_classifier(name, params, hp, matrix, split.positions, stop_on=stop_on)
    except Exception as error:  # one broken candidate (e.g. a bad setting) must not sink the rest
        log.exception("candidate %s %s failed to train", name, params)
        return {"name": name, "params": dict(params), "validation_macro_f1": None, "error": f"{type(error).__name__}: {error}"}, None
    trial = _scored(name, params, classifier, split) | info
    log.info("candidate %s %s: validation macro-F1 %.4f, fit %.1fs", name, params, trial["validation_macro_f1"], info["fit_seconds"])
    return trial, classifier


def _scored(name: str, params: Mapping, classifier, split: _Split) -> dict:
    """A fitted classifier's trial: its validation scores, all from `evaluate`."""
    predicted = predict_codes(classifier, split.classes, split.design.matrix_for(name, *split.validation))
    scores = evaluate(split.true, predicted)
    return {
        "name": name,
        "params": dict(params),
        "validation_macro_f1": scores["macro_f1"],
        "validation_accuracy": scores["accuracy"],
        "validation_per_class": {k: {"precision": v["precision"], "recall": v["recall"]} for k, v in scores["per_class"].items()},
    }


def _blend_trials(name: str, hp: Mapping, trials: list[dict], fitted: dict, split: _Split, checkpoint: TrialCheckpoint) -> list[dict]:
    """One trial per blend weight, voting with the best member trials' classifiers: nothing refitted.

    Only after a restart, when the members' trials came from the checkpoint, are the two best
    settings fitted again (the same rows and settings give the same classifiers).
    """
    best = {}
    for member in BLEND_MEMBERS[name]:
        scored = [t for t in trials if t["name"] == member and t.get("validation_macro_f1") is not None]
        if not scored:
            log.warning("candidate %s skipped: %s has no trained setting to blend", name, member)
            return [{"name": name, "params": {}, "validation_macro_f1": None, "error": f"{member} has no trained setting to blend"}]
        best[member] = max(scored, key=lambda t: t["validation_macro_f1"])  # the candidate table's choice
    members: list | None = None
    blended = []
    for weight in grid(hp, "blend_weight"):
        params = blend_params(weight, {member: trial["params"] for member, trial in best.items()})
        key = TrialCheckpoint.key(name, params)
        if key not in checkpoint.trials:
            started = time.perf_counter()
            if members is None:
                members = [_member(member, trial["params"], hp, fitted, split) for member, trial in best.items()]
            trial = _scored(name, params, soft_vote(params, members), split) | {"fit_seconds": round(time.perf_counter() - started, 3)}
            log.info("candidate %s %s: validation macro-F1 %.4f, built in %.2fs", name, params, trial["validation_macro_f1"], trial["fit_seconds"])
            checkpoint.save(key, trial)
        blended.append(checkpoint.trials[key])
    return blended


def _member(name: str, params: Mapping, hp: Mapping, fitted: dict, split: _Split):
    classifier = fitted.get(TrialCheckpoint.key(name, params))
    if classifier is None:
        log.info("refitting %s %s for the blend: its trial came from the checkpoint", name, dict(params))
        classifier, _ = fit_classifier(name, params, hp, split.design.matrix_for(name, split.design.raw, split.design.scaled), split.positions)
    return classifier


def _candidate_table(trials: list[dict], winner: dict) -> list[dict]:
    """One row per candidate: its best setting (or its error), how many it tried, and who won."""
    table = []
    for name in dict.fromkeys(t["name"] for t in trials):
        own = [t for t in trials if t["name"] == name]
        scored = [t for t in own if t.get("validation_macro_f1") is not None]
        best = max(scored, key=lambda t: t["validation_macro_f1"]) if scored else own[0]
        table.append({**best, "settings_tried": len(own), "won": best is winner})
    return table
