"""Champion/challenger: the model serving now, scored on the challenger's own test channel.

Both models are then measured on exactly the same baskets with the same metrics function, so the
comparison says which model is better on the latest weeks, not which one had an easier test set.
"""

from __future__ import annotations

import numpy as np

from retail_assets.training.data import channel_prefix
from retail_assets.training.gate import ChampionScore
from retail_training.metrics import evaluate
from retail_model.artifact import ModelLoadError
from retail_model.lake import Lake
from retail_model.registry import ModelRegistry


def score_serving_model(registry: ModelRegistry, lake: Lake, challenger: str, feature_version: str) -> ChampionScore | None:
    """The serving model's macro-F1 on the challenger's test channel; None when nothing serves
    (the first model) or the challenger already serves.

    When the serving model cannot be scored the result says why and is not comparable: the gate
    then fails closed (a broken champion must not wave a worse model through), except when the
    registry records that the serving model was built for another feature version, which the
    challenger replaces by design.
    """
    from retail_training.job import TrainingInputError, read_channel  # here: it brings scikit-learn, which the code location need not load

    serving = registry.serving_entry()
    if serving is None or serving.version == challenger:
        return None
    if serving.feature_version and feature_version and serving.feature_version != feature_version:
        return ChampionScore(
            serving.version, None,
            f"serving model {serving.version} was built for feature version {serving.feature_version}, "
            f"the challenger for {feature_version}: not comparable on these features",
            feature_version_changed=True,
        )
    try:
        model = registry.load_model(serving)
        with lake.local_directory(channel_prefix(challenger, "test")) as directory:
            channel = read_channel("test", directory)
        predicted = np.array([p.code for p in model.predict_dicts(channel.features())])
    except (ModelLoadError, TrainingInputError) as error:
        return ChampionScore(serving.version, None, f"serving model {serving.version} cannot be scored: {error}")
    except Exception as error:  # noqa: BLE001 - a corrupt artefact fails in many ways; every one must fail closed
        return ChampionScore(serving.version, None, f"serving model {serving.version} cannot be scored: {type(error).__name__}: {error}")
    return ChampionScore(serving.version, evaluate(channel.codes(), predicted)["macro_f1"])
