"""XGBoost's trees compiled to flat arrays and walked for all trees at once with numpy.

XGBoost's own `inplace_predict` spends hundreds of microseconds per call on setup, whatever
the row count. Here every tree of the ensemble is a slice of a few flat arrays (split feature,
threshold, children, default direction, leaf value) and one basket walks all of them in
lockstep: one numpy step per tree level. XGBoost computes in float32 (inputs, thresholds, the
running sum of leaves, the link), so this does too, in XGBoost's order, to give the same numbers.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from retail_model.features.columns import Parts
from retail_model.scoring.base import CompileError, FeatureSpace, GatheringScorer, normalised

_OBJECTIVES = ("multi:softprob", "binary:logistic")


class TreeEnsembleScorer(GatheringScorer):
    kind = "trees"

    def __init__(self, space: FeatureSpace, booster_json: dict, tree_range: tuple[int, int] | None) -> None:
        learner = booster_json["learner"]
        self.objective = learner["objective"]["name"]
        if self.objective not in _OBJECTIVES:
            raise CompileError(f"XGBoost objective {self.objective!r}")
        booster = learner["gradient_booster"]
        if booster.get("name") != "gbtree":
            raise CompileError(f"XGBoost booster {booster.get('name')!r}")
        model = booster["model"]
        trees = model["trees"][slice(*tree_range) if tree_range else slice(None)]
        groups = np.asarray(model["tree_info"][slice(*tree_range) if tree_range else slice(None)])
        if any(int(t["tree_param"].get("size_leaf_vector", "1")) > 1 or any(t["split_type"]) for t in trees):
            raise CompileError("vector leaves or categorical splits")
        self.n_outputs = max(int(learner["learner_model_param"]["num_class"]), 1)
        self.base_margin = _base_margin(learner["learner_model_param"]["base_score"], self.objective, self.n_outputs)
        self.space = space
        self.booster: Any = None  # the xgboost Booster, set by compile_xgboost
        self.iteration_range = (0, 0)
        self._compile(trees, groups)

    def _compile(self, trees: list[dict], groups: np.ndarray) -> None:
        used = sorted({int(f) for t in trees for f, left in zip(t["split_indices"], t["left_children"], strict=True) if left != -1})
        position = {column: i for i, column in enumerate(used)}
        # Only features some tree splits on matter: the others (-1) are left out of the dense block.
        self.position = np.full(self.space.n_features, -1, dtype=np.intp)
        self.position[used] = np.arange(len(used))
        self.n_used = max(len(used), 1)
        feature, threshold, left, right, default_left, roots = [], [], [], [], [], []
        depth = 0
        for tree in trees:
            offset = len(feature)
            roots.append(offset)
            for node, (child_left, child_right) in enumerate(zip(tree["left_children"], tree["right_children"], strict=True)):
                leaf = child_left == -1
                # A leaf points at itself, so walking past it changes nothing; its value sits in split_conditions.
                left.append(offset + (node if leaf else child_left))
                right.append(offset + (node if leaf else child_right))
                feature.append(0 if leaf else position[int(tree["split_indices"][node])])
                threshold.append(tree["split_conditions"][node])
                default_left.append(bool(tree["default_left"][node]))
            depth = max(depth, _depth(tree["left_children"], tree["right_children"]))
        self.feature = np.asarray(feature, dtype=np.intp)
        self.threshold = np.asarray(threshold, dtype=np.float32)
        self.left, self.right = np.asarray(left, dtype=np.intp), np.asarray(right, dtype=np.intp)
        self.default_left = np.asarray(default_left, dtype=bool)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.depth = depth
        self.trees_by_output = [np.flatnonzero(groups == g) for g in range(self.n_outputs)]

    def dense(self, parts: Parts) -> np.ndarray:
        """The gathered rows as XGBoost reads them: float32, NaN (missing) where a sparse row has no value.

        The parts' values are already in the vectorizer's dtype and scaled (then widened to
        float64, which is exact), so storing them as float32 rounds them as XGBoost does.
        """
        indptr, columns, data = parts
        n_rows = len(indptr) - 1
        block = np.full((n_rows, self.n_used), np.nan if self.space.sparse else 0.0, dtype=np.float32)
        positions = self.position[columns]
        used = positions >= 0  # features no tree splits on play no part
        block[np.repeat(np.arange(n_rows), np.diff(indptr))[used], positions[used]] = data[used]
        return block

    def leaves(self, block: np.ndarray) -> np.ndarray:
        """The leaf value every row reaches in every tree: shape (rows, trees), float32."""
        node = np.tile(self.roots, (block.shape[0], 1))
        row = np.arange(block.shape[0])[:, np.newaxis]
        for _ in range(self.depth):
            value = block[row, self.feature[node]]
            go_left = np.where(np.isnan(value), self.default_left[node], value < self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return self.threshold[node]

    def probabilities_of(self, parts: Parts) -> np.ndarray:
        leaves = self.leaves(self.dense(parts))
        margins = np.empty((leaves.shape[0], self.n_outputs), dtype=np.float32)
        for output, trees in enumerate(self.trees_by_output):
            # Tree by tree from the base margin, in float32: XGBoost's order of additions.
            start = np.full((leaves.shape[0], 1), self.base_margin[output], dtype=np.float32)
            margins[:, output] = np.cumsum(np.hstack([start, leaves[:, trees]]), axis=1, dtype=np.float32)[:, -1]
        if self.objective == "binary:logistic":
            positive = np.float32(1.0) / (np.float32(1.0) + np.exp(-margins[:, 0]))
            probabilities = np.stack([np.float32(1.0) - positive, positive], axis=1)
        else:
            exponentials = np.exp(margins - margins.max(axis=1, keepdims=True))
            probabilities = exponentials / exponentials.sum(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
        return normalised(probabilities.astype(np.float64))


def compile_xgboost(space: FeatureSpace, classifier: Any) -> TreeEnsembleScorer:
    missing = classifier.get_params().get("missing", np.nan)
    if not (missing is None or (isinstance(missing, float) and np.isnan(missing))):
        raise CompileError(f"XGBoost missing={missing!r} (only NaN, the default, is compiled)")
    booster = classifier.get_booster()
    dumped = json.loads(booster.save_raw("json"))
    tree_range, iteration_range = None, (0, 0)
    best = getattr(classifier, "best_iteration", None) if _has_best_iteration(classifier) else None
    if best is not None:  # early stopping: scikit-learn's predict_proba uses trees up to the best round
        indptr = dumped["learner"]["gradient_booster"]["model"]["iteration_indptr"]
        tree_range, iteration_range = (0, int(indptr[best + 1])), (0, int(best) + 1)
    scorer = TreeEnsembleScorer(space, dumped, tree_range)
    # Explanations ask XGBoost itself for its contributions (retail_model.scoring.explain).
    scorer.booster, scorer.iteration_range = booster, iteration_range
    return scorer


def _has_best_iteration(classifier: Any) -> bool:
    try:
        classifier.best_iteration  # noqa: B018 - XGBoost raises AttributeError when there is none
    except AttributeError:
        return False
    return True


def _base_margin(base_score: str, objective: str, n_outputs: int) -> np.ndarray:
    """XGBoost stores the intercept as a probability for logistic loss, as a margin for softmax."""
    values = np.asarray(json.loads(base_score) if base_score.startswith("[") else [float(base_score)], dtype=np.float32)
    if values.size == 1 and n_outputs > 1:
        values = np.repeat(values, n_outputs)
    if objective == "binary:logistic":
        values = -np.log(np.float32(1.0) / values - np.float32(1.0))
    return values.astype(np.float32)


def _depth(left: list[int], right: list[int]) -> int:
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, level = stack.pop()
        if left[node] == -1:
            deepest = max(deepest, level)
        else:
            stack.extend([(left[node], level + 1), (right[node], level + 1)])
    return deepest
