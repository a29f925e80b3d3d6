"""The trained price-sensitivity model as one loadable artefact, shared by training and the API.

`model.joblib` holds the fitted scikit-learn Pipeline (DictVectorizer -> ... -> classifier) and
the metadata that says how to read its output. Training writes it with `save`; the API reads it
with `load`, which refuses a model built for another feature version. Features always come from
`basket_features`, the same function training used, so both sides see the same numbers.

`predict`/`predict_dicts` answer through the pipeline itself (training and the release smoke
test use them). `score` is the serving path: the pipeline compiled once into a `Scorer`
(retail_model.scoring) that gives the same probabilities, checked against the pipeline when it
is built, at a small fraction of the cost per basket; `score_baskets` gives the same answers
from baskets, without a feature dict per basket (the batch endpoint's path).

`save` also writes `scorer.joblib`: that compiled scorer, checked against the pipeline as it is
saved, with the sha256 of the `model.joblib` it was compiled from. `load` serves from it and
unpickles the pipeline only when something asks for it (`predict`, the training side), so a
process that only scores (an API pod) never imports scikit-learn, about half of its start.
Without a matching `scorer.joblib` (a model saved before it existed, a `model.joblib` replaced
since, a scorer that only the pipeline itself gives), `load` compiles and checks the scorer
from the pipeline as before.

joblib files are pickles: load only artefacts this project wrote (the lake, the registry).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from retail_model.basket import Basket
from retail_model.features import FEATURE_VERSION, basket_features
from retail_model.labels import CLASS_BY_CODE
from retail_model.scoring import Scorer, verified_scorer
from retail_model.scoring.contribution_table import ContributionTable, ScoringTable, contribution_table, scoring_table
from retail_model.scoring.explain import ClassExplanation, contributions, feature_names, space_of, top_k

MODEL_FILE_NAME = "model.joblib"
SCORER_FILE_NAME = "scorer.joblib"  # the compiled scorer, checked against model.joblib when saved
METRICS_FILE_NAME = "metrics.json"  # written by training beside the model; optional when loading
OUTPUT_CODES = tuple(CLASS_BY_CODE)  # LA, MM, UM: the probability columns `score` returns
ARTIFACT_FORMAT = 1  # bump when the layout of the joblib payload changes
# Bump when a compiled scorer class (retail_model.scoring) changes what it holds: a scorer.joblib
# of another format is not unpickled into today's classes, the scorer is compiled from the pipeline.
SCORER_FORMAT = 1
MODEL_CARD_FILE_NAME = "model_card.md"
GATE_FILE_NAME = "gate.json"  # the promotion gate's verdict, written beside the model


log = logging.getLogger(__name__)


def model_key(version: str, file_name: str | None = None) -> str:
    """Where a trained model's files live in the lake: models/<version>/[file_name]."""
    return f"models/{version}/{file_name}" if file_name else f"models/{version}"


class ModelLoadError(Exception):
    """A model directory that cannot be served: missing, corrupt, or built for other features."""


@dataclass(frozen=True, slots=True)
class Prediction:
    code: str  # dunnhumby code: LA / MM / UM
    price_sensitivity: str  # High / Medium / Low
    probabilities: dict[str, float]  # every class, summing to 1


class PriceSensitivityModel:
    """A fitted pipeline over `basket_features` dicts plus what it needs to answer in classes.

    `metadata["classes"]` lists the dunnhumby codes in the order of the pipeline's
    `predict_proba` columns (the pipeline itself is trained on their integer positions).
    """

    def __init__(self, pipeline: Any, metadata: dict[str, Any], version: str | None = None) -> None:
        classes = list(metadata.get("classes", []))
        unknown = [code for code in classes if code not in CLASS_BY_CODE]
        if not classes or unknown:
            raise ValueError(f"metadata['classes'] must list codes from {tuple(CLASS_BY_CODE)}, got {classes}")
        self._pipeline = pipeline
        self._pickled_pipeline: bytes | None = None  # model.joblib's bytes, unpickled on first use (load)
        self.metadata = {"feature_version": FEATURE_VERSION, **metadata}
        self.version = version or str(metadata.get("version") or "unversioned")
        self.training_metrics: dict[str, Any] = {}  # metrics.json from the model directory, when loaded
        # Where each pipeline output column lands among OUTPUT_CODES (a class training lacked stays 0).
        self._codes = classes
        self._class_names = [CLASS_BY_CODE[code] for code in classes]
        self._output_columns = [OUTPUT_CODES.index(code) for code in classes]
        self._scorer: Scorer | None = None
        self._table: ContributionTable | None | bool = False  # False: not built yet; None: not applicable
        self._scoring_table: ScoringTable | None = None  # built with _table
        self._scorer_lock = threading.Lock()
        self._pipeline_lock = threading.Lock()

    @property
    def pipeline(self) -> Any:
        """The fitted scikit-learn Pipeline; a loaded model unpickles it here, the first time it is asked for."""
        if self._pipeline is None and self._pickled_pipeline is not None:
            with self._pipeline_lock:
                if self._pipeline is None:
                    self._pipeline = _payload(io.BytesIO(self._pickled_pipeline), MODEL_FILE_NAME)["pipeline"]
        return self._pipeline

    @property
    def classes(self) -> list[str]:
        return list(self.metadata["classes"])

    @property
    def feature_version(self) -> str:
        return str(self.metadata["feature_version"])

    def save(self, directory: Path | str) -> Path:
        """model.joblib, and scorer.joblib beside it when the pipeline compiles (checked against it now)."""
        path = Path(directory) / MODEL_FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {**self.metadata, "version": self.version}
        joblib.dump({"artifact_format": ARTIFACT_FORMAT, "pipeline": self.pipeline, "metadata": metadata}, path)
        scorer_path = path.with_name(SCORER_FILE_NAME)
        scorer_path.unlink(missing_ok=True)  # never one compiled from another model.joblib
        try:
            scorer = self.scorer
        except Exception:  # noqa: BLE001 - a pipeline that cannot score is saved as it is: loading it refuses it (prepare)
            return path
        if scorer.kind != "pipeline":  # the fallback is the pipeline itself: nothing to save apart
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            payload = {"scorer_format": SCORER_FORMAT, "model_sha256": digest, "metadata": metadata, "scorer": scorer}
            joblib.dump(payload, scorer_path)
        return path

    @classmethod
    def load(cls, directory: Path | str, version: str | None = None) -> PriceSensitivityModel:
        path = Path(directory) / MODEL_FILE_NAME
        if not path.is_file():
            raise ModelLoadError(
                f"no {MODEL_FILE_NAME} in {Path(directory)}: train the model first or check model_dir in the registry entry"
            )
        pickled = path.read_bytes()
        compiled = _compiled_scorer(path.with_name(SCORER_FILE_NAME), hashlib.sha256(pickled).hexdigest())
        payload = compiled if compiled is not None else _payload(io.BytesIO(pickled), path)
        metadata = payload.get("metadata") or {}
        trained_on = metadata.get("feature_version")
        if trained_on != FEATURE_VERSION:
            raise ModelLoadError(
                f"{path} was trained on feature version {trained_on!r} but this code computes version "
                f"{FEATURE_VERSION!r}; retrain the model on the current features"
            )
        try:
            model = cls(None if compiled is not None else payload["pipeline"], metadata, version=version)
        except (KeyError, ValueError) as error:
            raise ModelLoadError(f"{path} has incomplete metadata: {error}") from error
        if compiled is not None:
            model._scorer, model._pickled_pipeline = compiled["scorer"], pickled
        model.training_metrics = _read_metrics(Path(directory) / METRICS_FILE_NAME)
        return model

    def predict(self, baskets: Sequence[Basket]) -> list[Prediction]:
        return self.predict_dicts([basket_features(basket) for basket in baskets])

    def predict_dicts(self, rows: Sequence[dict[str, float]]) -> list[Prediction]:
        if not rows:
            return []
        probabilities = np.asarray(self.pipeline.predict_proba(list(rows)), dtype=np.float64)
        # XGBoost answers in float32: renormalise so each answer sums to 1 in float64 as well.
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        codes = self.classes
        predictions = []
        for row in probabilities:
            # A class the training data lacked is reported with probability 0, so every answer
            # names all three classes.
            by_class = dict.fromkeys(CLASS_BY_CODE.values(), 0.0)
            for code, probability in zip(codes, row, strict=True):
                by_class[CLASS_BY_CODE[code]] = float(probability)
            best = codes[int(np.argmax(row))]
            predictions.append(Prediction(best, CLASS_BY_CODE[best], by_class))
        return predictions

    @property
    def scorer(self) -> Scorer:
        """The compiled scorer, built and checked against the pipeline on first use (then reused)."""
        if self._scorer is None:
            with self._scorer_lock:
                if self._scorer is None:
                    self._scorer = verified_scorer(self.pipeline)
        return self._scorer

    def prepare(self) -> Scorer:
        """Compile the scorer, the explanations' table and the batch lookups now (call it before serving); ModelLoadError if the pipeline cannot score."""
        try:
            scorer = self.scorer
            self._contribution_table()
            if scorer.space is not None:  # score_baskets' lookups, compiled before the first batch
                scorer.space.basket_columns  # noqa: B018 - a cached property
            return scorer
        except Exception as error:  # a pipeline that cannot score probe rows is a broken artefact
            raise ModelLoadError(
                f"model {self.version} cannot score a basket ({type(error).__name__}: {error}); retrain it"
            ) from error

    def _contribution_table(self) -> ContributionTable | None:
        if self._table is False:
            scorer = self.scorer  # compiled first: it takes the same lock
            with self._scorer_lock:
                if self._table is False:
                    table = contribution_table(scorer)
                    self._scoring_table = scoring_table(scorer, table)
                    self._table = table
        return self._table or None

    def score(self, rows: Sequence[Mapping[str, float]]) -> tuple[list[str], list[list[float]]]:
        """The serving path: each row's winning code and its probabilities in OUTPUT_CODES order.

        The same classes and (within 1e-6) the same probabilities as `predict_dicts`, from the
        compiled scorer.
        """
        if len(rows) < 2:
            matrix = list(map(self.scorer.probabilities_one, rows))
            return [self._codes[row.index(max(row))] for row in matrix], self._placed(matrix)  # the first of equals, like argmax
        return self._answers(self.scorer.probabilities(rows))

    def score_baskets(self, baskets: Sequence[Basket]) -> tuple[list[str], list[list[float]]]:
        """`score` of the baskets' `basket_features`: the same codes and floats, for Basket or the API's BasketIn.

        Two baskets or more, with a scorer of gathered columns (linear models, trees, their
        blends), skip the feature dicts: the baskets go straight to the scorer's CSR parts
        (`FeatureSpace.gather_baskets`). One basket keeps `score`'s plain-Python path.
        """
        scorer = self.scorer
        if len(baskets) < 2 or scorer.space is None:
            return self.score(list(map(basket_features, baskets)))
        return self._answers(scorer.probabilities_of(scorer.space.gather_baskets(baskets)))

    def _answers(self, array: np.ndarray) -> tuple[list[str], list[list[float]]]:
        """Each row's winning code (the first of equals, numpy's argmax) and its probabilities in OUTPUT_CODES order."""
        return list(map(self._codes.__getitem__, array.argmax(axis=1).tolist())), self._placed(array.tolist())

    def _placed(self, matrix: list[list[float]]) -> list[list[float]]:
        if self._output_columns == [0, 1, 2]:
            return matrix
        placed = []  # fewer classes, or another order: place them
        for row in matrix:
            full = [0.0, 0.0, 0.0]
            for column, probability in zip(self._output_columns, row, strict=True):
                full[column] = probability
            placed.append(full)
        return placed

    def score_explained(self, row: Mapping[str, float], k: int) -> tuple[str, list[float], str, dict[str, ClassExplanation]]:
        """One basket's `score` and `explain` at once: its code, probabilities, link and classes, equal to theirs.

        For linear models and their blends each feature is looked up once for both (`ScoringTable`).
        """
        if self._table is False:
            self._contribution_table()
        joint = self._scoring_table
        if joint is None:
            [code], [probabilities] = self.score([row])
            link, [classes] = self.explain([row], k)
            return code, probabilities, link, classes
        probabilities, explained = joint.explain(row, k)
        [placed] = self._placed([probabilities])
        classes = dict(zip(self._class_names, explained, strict=True))
        return self._codes[probabilities.index(max(probabilities))], placed, joint.table.link, classes

    def explain(self, rows: Sequence[Mapping[str, float]], k: int) -> tuple[str, list[dict[str, ClassExplanation]]]:
        """Each row's per-class score, intercept and top-k feature contributions (retail_model.scoring.explain).

        Returns the link (how scores become the probabilities `score` reports) and, per row, a
        dict class name -> its explanation, for the classes the model was trained on.
        """
        scorer = self.scorer
        classes = [CLASS_BY_CODE[code] for code in self._codes]
        table = self._contribution_table()
        if table is not None:  # linear models and their blends: plain Python per basket, no numpy
            return table.link, [dict(zip(classes, table.explain(row, k), strict=True)) for row in rows]
        explained = contributions(scorer, rows)
        space = space_of(scorer)
        names = feature_names(space) if space is not None else np.empty(0, dtype=object)
        return explained.link, [dict(zip(classes, row, strict=True)) for row in top_k(explained, names, k)]

    def __repr__(self) -> str:
        candidate = self.metadata.get("candidate")
        return f"PriceSensitivityModel(version={self.version!r}, candidate={candidate!r}, classes={self.classes})"


def _payload(source: Any, path: Path | str) -> dict[str, Any]:
    """model.joblib's payload (from its path or its bytes); ModelLoadError for anything that is not one of ours."""
    try:
        payload = joblib.load(source)
    except Exception as error:  # a truncated or foreign file fails in many ways: report them alike
        reason = f"{type(error).__name__}: {error}"
        raise ModelLoadError(f"{path} is not a readable model artefact ({reason}); retrain or re-copy it") from error
    if not isinstance(payload, dict) or payload.get("artifact_format") != ARTIFACT_FORMAT:
        raise ModelLoadError(f"{path} is not a price-sensitivity model artefact of format {ARTIFACT_FORMAT}; retrain it with this code")
    return payload


def _compiled_scorer(path: Path, model_sha256: str) -> dict[str, Any] | None:
    """scorer.joblib's payload when it was compiled from this very model.joblib; None otherwise (then the pipeline is loaded)."""
    if not path.is_file():
        return None
    try:
        payload = joblib.load(path)
    except Exception as error:  # noqa: BLE001 - the pipeline can still give the scorer: fall back, and say why
        log.warning("%s is unreadable (%s: %s): compiling the scorer from the pipeline", path, type(error).__name__, error)
        return None
    if not isinstance(payload, dict) or payload.get("scorer_format") != SCORER_FORMAT or payload.get("model_sha256") != model_sha256:
        log.warning("%s was not compiled from this %s by this scorer format: compiling the scorer from the pipeline", path, MODEL_FILE_NAME)
        return None
    if not isinstance(payload.get("scorer"), Scorer):
        log.warning("%s holds no scorer: compiling the scorer from the pipeline", path)
        return None
    return payload


def _read_metrics(path: Path) -> dict[str, Any]:
    """Training's metrics.json, or {} when absent or unreadable: it describes the model, it is not the model."""
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}
