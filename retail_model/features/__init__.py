"""The feature definition: one definition, two implementations proven equal.

`basket.py` computes one basket's features at checkout (the API); `table.py` computes a whole
gold table's in polars (the pipeline). The parity test (tests/model/features/test_parity.py)
proves they give the same numbers for every basket. `FEATURE_VERSION` names the definition.
"""

from retail_model.features.basket import FEATURE_VERSION, basket_features

__all__ = ["FEATURE_VERSION", "basket_features"]
