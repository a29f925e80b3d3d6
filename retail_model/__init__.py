"""What training and serving share: the basket, its features, the model artefact, the lake and the
model registry."""

from retail_model.basket import Basket, BasketLine, Customer
from retail_model.features import FEATURE_VERSION, basket_features
from retail_model.labels import CLASS_BY_CODE, CODE_BY_CLASS, TRAINABLE_CODES

__all__ = [
    "Basket",
    "BasketLine",
    "Customer",
    "FEATURE_VERSION",
    "basket_features",
    "CLASS_BY_CODE",
    "CODE_BY_CLASS",
    "TRAINABLE_CODES",
]
