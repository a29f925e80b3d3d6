"""Value domains of dunnhumby's codes: the one copy both the pipeline's contract and the API use."""

PRICE_SENSITIVITY_CODES = ("LA", "MM", "UM", "XX")
LIFESTAGE_CODES = ("YA", "OA", "YF", "OF", "PE", "OT", "XX")
BASKET_SIZES = ("S", "M", "L")
BASKET_TYPES = ("Small Shop", "Top Up", "Full Shop", "XX")
BASKET_MISSIONS = ("Fresh", "Grocery", "Mixed", "Nonfood", "XX")
STORE_FORMATS = ("LS", "MS", "SS", "XLS")
# Regions are data (discovered from what lands); this is only the shape of a region code.
# [0-9], not \d: pydantic's regex engine lets \d match any Unicode digit.
STORE_REGION_PATTERN = r"^[A-Z][0-9]{2}$"
