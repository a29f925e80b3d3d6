"""Basket features shared by training and the inference API (no Dagster import)."""

from retail_features.basket import Basket, BasketLine, Customer
from retail_features.features import FEATURE_VERSION, basket_features
from retail_features.labels import CLASS_BY_CODE, CODE_BY_CLASS, TRAINABLE_CODES

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
