"""The label: dunnhumby's BASKET_PRICE_SENSITIVITY codes and the classes the product speaks in."""

# LA (less affluent) buys on price; UM (up market) does not. XX is unclassified: kept in the
# lake, excluded from training and from every model metric.
CLASS_BY_CODE: dict[str, str] = {"LA": "High", "MM": "Medium", "UM": "Low"}
CODE_BY_CLASS: dict[str, str] = {name: code for code, name in CLASS_BY_CODE.items()}
TRAINABLE_CODES: tuple[str, ...] = tuple(CLASS_BY_CODE)
UNCLASSIFIED_CODE = "XX"
