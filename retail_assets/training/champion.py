"""Champion/challenger: the model serving now, scored on the challenger's own test channel.

Both models are then measured on exactly the same baskets with the same metrics function, so the
comparison says which model is better on the latest weeks, not which one had an easier test set.
"""

from __future__ import annotations

import numpy as np

from retail_assets.training.data import channel_prefix
from retail_assets.training.gate import ChampionScore
from retail_training.job import TrainingInputError, read_channel
from retail_training.metrics import evaluate
from retail_model.artifact import ModelLoadError
from retail_model.lake import Lake
from retail_model.registry import ModelRegistry


def score_serving_model(registry: ModelRegistry, lake: Lake, challenger: str) -> ChampionScore | None:
    """None when nothing serves (the first model) or the challenger already serves."""
    serving = registry.serving_entry()
    if serving is None or serving.version == challenger:
        return None
    try:
        model = registry.load_model(serving)
    except ModelLoadError as error:  # e.g. built for an older feature version: it cannot serve these features
        return ChampionScore(serving.version, None, f"serving model {serving.version} cannot be scored: {error}")
    try:
        with lake.local_directory(channel_prefix(challenger, "test")) as directory:
            channel = read_channel("test", directory)
    except TrainingInputError as error:
        return ChampionScore(serving.version, None, f"the test channel of {challenger} cannot be read: {error}")
    predicted = np.array([p.code for p in model.predict_dicts(channel.features())])
    return ChampionScore(serving.version, evaluate(channel.codes(), predicted)["macro_f1"])
