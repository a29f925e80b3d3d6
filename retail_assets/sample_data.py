"""A realistic, deterministic sample of dunnhumby-style weekly transaction extracts.

``generate_sample_data(out_dir)`` writes ``transactions_YYYYWW.csv`` files in the exact layout of
the data contract (``retail_assets.ingest.contract.COLUMNS``), plus ``sample_data_report.json``. Plain
Python + numpy (+ polars to write the CSV); no Dagster. ``docs/sample_data.md`` has the long
version of what follows, with the figures measured for the default arguments.

How the data is made
--------------------
A *world* is drawn once from the seed: a product hierarchy (about 10 D > 90 G > 250 DEP >
1,000 CL > 5,000 PRD, every child with exactly one parent), each product with a price tier
(value / standard / premium), a unit price that fits the tier and its department, a Zipf-like
popularity and a multi-buy propensity; 761 stores over 12 regions (each with a format and a
traffic weight; rows per region stay within 2x); 5,000 customers, each with a price-sensitivity
segment, a lifestage, a home store and a shopping frequency.

Each week is then drawn from its own random stream (seed + the week), so a week's file depends
only on (seed, week, baskets_per_week): generating weeks 1-12 or weeks 7-12 gives the same files
for the weeks they share. For every basket, in order:

1. shopper: anonymous with probability 0.20 (then no CUST_* values), else a customer drawn by
   frequency; store: the customer's home store 85% of the time, else any store by traffic;
2. label (BASKET_PRICE_SENSITIVITY): for a known customer with segment s, ``s`` with probability
   ``_AGREEMENT`` and otherwise a draw from the prior (MM 51%, UM 24%, LA 23%, XX 2%); anonymous
   baskets draw from the prior. Customer segments follow the same prior, so the label shares do.
3. BASKET_SIZE from P(size | store format, label) (a mild label tilt: LA a little larger, UM a
   little smaller), BASKET_TYPE from P(type | size) (an XX label makes an XX type likelier), the
   day of the week from P(day | type), the hour from a lunchtime/after-work profile;
4. products, the signal: the number of product draws is Poisson(r) with r fixed by (size, type),
   conditioned on at least one; each draw comes with probability ``_MIX`` from the label's own
   product distribution (every product is the favourite of one label, mostly the one its tier
   suits: value -> LA, standard -> MM, premium -> UM; plus a department tilt per label) and
   otherwise from general popularity; XX baskets
   draw from popularity only. Repeated draws of a product merge into one line, so a product
   appears at most once per basket (about 6.5 lines per basket on average);
5. QUANTITY from the product's multi-buy propensity, SPEND = unit price x quantity, with a
   promotion discount on some lines; BASKET_DOMINANT_MISSION from the basket's spend by the
   departments' mission (Fresh / Grocery / Nonfood, Mixed when none has 60%; XX with an XX type).

The Bayes ceiling
-----------------
Because draws are Poisson, the set of products in a basket has an exact likelihood: product x is
present independently with probability ``1 - exp(-r q_l(x))`` where ``q_l`` is label l's mixture
distribution; the all-absent terms and the "at least one line" conditioning are the same for
every label and cancel. Quantity, spend, mission, time and store are independent of the label
given the products, the size and the type. So for every basket the generator computes the exact
posterior

    P(l | basket) ∝ P(l | customer segment or anonymous) P(size | format, l) P(type | size, l)
                    Π_{x in basket} (1 - exp(-r q_l(x))) exp(r q_l(x))

and predicts its argmax over LA/MM/UM (models never predict XX). ``ceiling_accuracy`` and
``ceiling_macro_f1`` score that prediction against the true label on every non-XX basket
generated: no model trained on this data can beat them except by chance. For the default
arguments they are 0.937 / 0.931 (docs/sample_data.md has the figures and how they move).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from retail_assets.ingest import contract
from retail_model.labels import TRAINABLE_CODES, UNCLASSIFIED_CODE

__all__ = ["SampleDataReport", "generate_sample_data", "REPORT_FILE_NAME"]

REPORT_FILE_NAME = "sample_data_report.json"
COLUMN_SPELLINGS = ("dunnhumby", "seg")

# --- the world ----------------------------------------------------------------------------------
_N_D, _N_G, _N_DEP, _N_CL, _N_PRODUCTS = 10, 90, 250, 1000, 5000
_N_STORES = 761
_N_CUSTOMERS = 5000
_REGIONS = tuple(f"{side}{n:02d}" for side in "ENSW" for n in (1, 2, 3))

# Departments (D level) by shopping mission; the mission column is derived from basket spend.
_MISSIONS = ("Fresh", "Grocery", "Nonfood")
_D_MISSION = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])  # D1-3 Fresh, D4-7 Grocery, D8-10 Nonfood
_D_PRICE_PENCE = np.array([150, 120, 230, 110, 90, 140, 200, 180, 300, 450], dtype=float)
# Popularity multiplier by department: food is bought far more often than nonfood.
_D_POPULARITY = np.array([1.3, 1.2, 1.0, 1.2, 1.1, 1.0, 0.9, 0.45, 0.35, 0.25])

_TIERS = ("value", "standard", "premium")
_TIER_SHARES = np.array([0.30, 0.45, 0.25])
_TIER_PRICE = np.array([0.60, 1.00, 1.85])

_LABELS = contract.PRICE_SENSITIVITY_CODES  # LA, MM, UM, XX: indices 0..3
_LA, _MM, _UM, _XX = (_LABELS.index(code) for code in ("LA", "MM", "UM", "XX"))
assert _LABELS[_XX] == UNCLASSIFIED_CODE and set(TRAINABLE_CODES) == {"LA", "MM", "UM"}
_TRAINABLE = np.array([_LABELS.index(code) for code in TRAINABLE_CODES])
_LABEL_PRIOR = np.array([0.23, 0.51, 0.24, 0.02])  # in _LABELS order

_LIFESTAGES = contract.LIFESTAGE_CODES  # YA OA YF OF PE OT XX
# P(lifestage | customer segment): up-market customers skew older, less-affluent ones to families.
_LIFESTAGE_BY_SEGMENT = np.array(
    [
        [0.16, 0.10, 0.24, 0.16, 0.16, 0.12, 0.06],  # LA
        [0.14, 0.18, 0.17, 0.19, 0.17, 0.10, 0.05],  # MM
        [0.13, 0.27, 0.11, 0.18, 0.18, 0.09, 0.04],  # UM
        [0.12, 0.12, 0.12, 0.12, 0.12, 0.10, 0.30],  # XX
    ]
)

_FORMATS = contract.STORE_FORMATS  # LS MS SS XLS
_FORMAT_SHARES = np.array([0.27, 0.28, 0.35, 0.10])
_FORMAT_TRAFFIC = np.array([1.6, 1.0, 0.6, 2.6])

# --- the weekly process ----------------------------------------------------------------------
_P_ANONYMOUS = 0.20
_P_HOME_STORE = 0.85
_AGREEMENT = 0.25  # P(basket label := customer segment); otherwise drawn from the prior
_MIX = 0.80  # share of product draws from the label's own distribution (the signal)
_POP_EXPONENT = 0.80  # how much of general popularity the label distributions keep
# Each product is the favourite of one label, mostly the one its tier suits: P(label | tier),
# rows value, standard, premium; columns LA, MM, UM.
_FAVOURITE_BY_TIER = np.array([[0.70, 0.20, 0.10], [0.15, 0.70, 0.15], [0.10, 0.20, 0.70]])
_NON_FAVOURITE_WEIGHT = 0.05  # weight of a product in the other labels' own distributions
_PREFERENCE_SIGMA = 0.5  # product-level noise on each label's weights (lognormal)
_D_AFFINITY_SIGMA = 0.35  # each label's department tilt (lognormal)

_SIZES = contract.BASKET_SIZES  # S M L
_TYPES = contract.BASKET_TYPES  # Small Shop, Top Up, Full Shop, XX
_TYPE_XX = _TYPES.index("XX")
# P(size | store format) and the label's multiplicative tilt on it.
_SIZE_BY_FORMAT = np.array(
    [
        [0.40, 0.38, 0.22],  # LS
        [0.45, 0.37, 0.18],  # MS
        [0.55, 0.33, 0.12],  # SS
        [0.33, 0.39, 0.28],  # XLS
    ]
)
_SIZE_TILT = np.array([[0.90, 1.00, 1.25], [1.0, 1.0, 1.0], [1.10, 1.00, 0.80], [1.0, 1.0, 1.0]])
# P(type | size), for labelled baskets; XX-labelled baskets get an XX type 35% of the time.
_TYPE_BY_SIZE = np.array(
    [
        [0.927, 0.070, 0.000, 0.003],  # S
        [0.420, 0.525, 0.052, 0.003],  # M
        [0.030, 0.520, 0.447, 0.003],  # L
    ]
)
_P_XX_TYPE_GIVEN_XX_LABEL = 0.35
# Poisson rate of product draws by (size, type).
_DRAW_RATE = np.array(
    [
        [2.0, 2.5, 3.1, 2.2],  # S
        [5.8, 6.8, 8.3, 6.3],  # M
        [12.6, 14.6, 17.5, 14.6],  # L
    ]
)
# Day of the shop week (Monday..Sunday offsets) by basket type: full shops lean to the weekend.
_DAY_BY_TYPE = np.array(
    [
        [0.14, 0.14, 0.14, 0.15, 0.16, 0.15, 0.12],
        [0.13, 0.13, 0.14, 0.15, 0.17, 0.16, 0.12],
        [0.10, 0.10, 0.11, 0.13, 0.17, 0.23, 0.16],
        [0.14, 0.14, 0.14, 0.15, 0.16, 0.15, 0.12],
    ]
)
_HOURS = np.arange(8, 22)
_HOUR_WEIGHTS = np.array([3, 5, 7, 8, 10, 9, 7, 7, 8, 10, 9, 7, 5, 3], dtype=float)
_P_PROMOTION = 0.12
_PROMOTION_FACTORS = np.array([0.50, 0.67, 0.75, 0.80])
_MISSION_DOMINANCE = 0.60

_BASKET_ID_BASE = 994_100_000_000_000
_MAX_BASKETS_PER_WEEK = 1_000_000


@dataclass(frozen=True)
class SampleDataReport:
    """What ``generate_sample_data`` wrote, and the best score any model could reach on it."""

    files: list[Path]
    weeks: list[int]
    rows: int
    baskets: int
    label_shares: dict[str, float]  # basket shares by BASKET_PRICE_SENSITIVITY code
    # The generator's own Bayes-optimal classifier, scored on every LA/MM/UM basket (XX excluded).
    ceiling_accuracy: float
    ceiling_macro_f1: float

    def to_dict(self) -> dict:
        return {
            "files": [str(path) for path in self.files],
            "weeks": list(self.weeks),
            "rows": self.rows,
            "baskets": self.baskets,
            "label_shares": dict(self.label_shares),
            "ceiling_accuracy": self.ceiling_accuracy,
            "ceiling_macro_f1": self.ceiling_macro_f1,
        }


def generate_sample_data(
    out_dir: Path,
    weeks: int = 12,
    baskets_per_week: int = 4000,
    seed: int = 7,
    first_week: int = 200607,
    column_spelling: str = "dunnhumby",
) -> SampleDataReport:
    """Write ``weeks`` consecutive weekly extracts (from ``first_week``, YYYYWW) into ``out_dir``.

    Shop weeks are ISO weeks (Monday to Sunday; 200652 is followed by 200701). With
    ``column_spelling="seg"`` the two customer segment columns are named ``seg_1``/``seg_2`` and
    their values recoded as some public re-uploads do (lifestage XX has no recoding and stays XX).
    Same arguments, byte-identical files.
    """
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    if not 1 <= baskets_per_week <= _MAX_BASKETS_PER_WEEK:
        raise ValueError(f"baskets_per_week must be in 1..{_MAX_BASKETS_PER_WEEK}, got {baskets_per_week}")
    if column_spelling not in COLUMN_SPELLINGS:
        raise ValueError(f"column_spelling must be one of {COLUMN_SPELLINGS}, got {column_spelling!r}")
    monday = _week_monday(first_week)

    world = _World.build(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    files: list[Path] = []
    week_codes: list[int] = []
    rows = 0
    labels: list[np.ndarray] = []
    predictions: list[np.ndarray] = []
    for _ in range(weeks):
        iso = monday.isocalendar()
        week_code = iso.year * 100 + iso.week
        week = _generate_week(world, seed, monday, baskets_per_week)
        path = out_dir / f"transactions_{week_code}.csv"
        week.frame(world, week_code, column_spelling).write_csv(path, float_precision=2, null_value="")
        files.append(path)
        week_codes.append(week_code)
        rows += week.n_lines
        labels.append(week.label)
        predictions.append(week.ceiling_prediction)
        monday += timedelta(days=7)

    label = np.concatenate(labels)
    prediction = np.concatenate(predictions)
    counts = np.bincount(label, minlength=len(_LABELS))
    accuracy, macro_f1 = _ceiling_scores(label, prediction)
    report = SampleDataReport(
        files=files,
        weeks=week_codes,
        rows=rows,
        baskets=int(label.size),
        label_shares={code: float(counts[i] / label.size) for i, code in enumerate(_LABELS)},
        ceiling_accuracy=accuracy,
        ceiling_macro_f1=macro_f1,
    )
    (out_dir / REPORT_FILE_NAME).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


# --- calendar ---------------------------------------------------------------------------------


def _week_monday(week_code: int) -> date:
    """The Monday of ISO shop week YYYYWW; ValueError for a week that does not exist."""
    year, week = divmod(int(week_code), 100)
    if not 1900 <= year <= 2999:
        raise ValueError(f"first_week must be YYYYWW with a year in 1900..2999, got {week_code}")
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError as error:
        raise ValueError(f"first_week {week_code} is not a valid YYYYWW shop week: {error}") from None


# --- the world ----------------------------------------------------------------------------------


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights, axis=-1, dtype=float)
    cdf /= cdf[..., -1:]
    return cdf


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn from a 1-D cdf with uniforms u."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1)


def _draw_rows(cdf_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One index per row of a 2-D cdf (one distribution per row) with one uniform per row."""
    return np.minimum((u[:, None] >= cdf_rows).sum(axis=1), cdf_rows.shape[1] - 1)


def _assign_parents(rng: np.random.Generator, n_children: int, n_parents: int, sigma: float) -> np.ndarray:
    """Every parent gets at least one child, the rest by uneven (lognormal) weights; sorted."""
    weights = rng.lognormal(0.0, sigma, n_parents)
    rest = _draw(_cdf(weights), rng.random(n_children - n_parents))
    return np.sort(np.concatenate([np.arange(n_parents), rest]))


def _codes(rng: np.random.Generator, prefix: str, n: int, low: int, high: int, width: int) -> list[str]:
    numbers = np.sort(rng.choice(np.arange(low, high), size=n, replace=False))
    return [f"{prefix}{number:0{width}d}" for number in numbers]


@dataclass
class _World:
    # products
    prod_codes: list[str]
    cl_codes: list[str]
    dep_codes: list[str]
    g_codes: list[str]
    d_codes: list[str]
    prod_cl: np.ndarray
    prod_dep: np.ndarray
    prod_g: np.ndarray
    prod_d: np.ndarray
    prod_tier: np.ndarray
    prod_mission: np.ndarray
    price_pence: np.ndarray
    multibuy: np.ndarray
    popularity: np.ndarray
    q: np.ndarray  # (4, P): each label's full product distribution (mixture); XX = popularity
    own_cdf: np.ndarray  # (3, P): cdf of each trainable label's own distribution
    pop_cdf: np.ndarray
    # stores
    store_codes: list[str]
    store_format: np.ndarray
    store_region: np.ndarray
    store_cdf: np.ndarray
    # customers
    cust_codes: list[str]
    cust_segment: np.ndarray
    cust_lifestage: np.ndarray
    cust_home: np.ndarray
    cust_cdf: np.ndarray
    # lookup series for writing
    series: dict[str, pl.Series] = field(default_factory=dict)

    @classmethod
    def build(cls, seed: int) -> _World:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0]))

        # Hierarchy: D > G > DEP > CL > PRD, each child with exactly one parent.
        g_d = _assign_parents(rng, _N_G, _N_D, 0.4)
        dep_g = _assign_parents(rng, _N_DEP, _N_G, 0.5)
        cl_dep = _assign_parents(rng, _N_CL, _N_DEP, 0.6)
        prod_cl = _assign_parents(rng, _N_PRODUCTS, _N_CL, 0.7)
        prod_dep = cl_dep[prod_cl]
        prod_g = dep_g[prod_dep]
        prod_d = g_d[prod_g]
        d_codes = [f"D{i + 1:05d}" for i in range(_N_D)]
        g_codes = _codes(rng, "G", _N_G, 1, 130, 5)
        dep_codes = _codes(rng, "DEP", _N_DEP, 1, 400, 5)
        cl_codes = _codes(rng, "CL", _N_CL, 1, 1500, 5)
        prod_codes = _codes(rng, "PRD0", _N_PRODUCTS, 900_001, 999_999, 6)

        # Products: tier, price, multi-buy propensity, Zipf-like popularity.
        tier = _draw(_cdf(_TIER_SHARES), rng.random(_N_PRODUCTS))
        cl_price = _D_PRICE_PENCE[g_d[dep_g[cl_dep]]] * rng.lognormal(0.0, 0.45, _N_CL)
        raw_price = cl_price[prod_cl] * _TIER_PRICE[tier] * rng.lognormal(0.0, 0.12, _N_PRODUCTS)
        price_pence = np.maximum(np.round(raw_price / 10.0) * 10.0 - 1.0, 19.0).astype(np.int64)
        multibuy = np.clip(0.35 * (100.0 / price_pence) ** 0.5 * rng.lognormal(0.0, 0.4, _N_PRODUCTS), 0.02, 0.9)
        rank = rng.permutation(_N_PRODUCTS)
        popularity = _D_POPULARITY[prod_d] / (rank + 8.0)
        popularity /= popularity.sum()

        # Each trainable label's own product distribution: tier affinity x department tilt x
        # label-specific preferences, on top of a flattened popularity.
        favourite = _draw_rows(_cdf(_FAVOURITE_BY_TIER)[tier], rng.random(_N_PRODUCTS))
        own = np.empty((len(_TRAINABLE), _N_PRODUCTS))
        for row in range(len(_TRAINABLE)):
            d_tilt = rng.lognormal(0.0, _D_AFFINITY_SIGMA, _N_D)
            preference = rng.lognormal(0.0, _PREFERENCE_SIGMA, _N_PRODUCTS)
            affinity = np.where(favourite == row, 1.0, _NON_FAVOURITE_WEIGHT)
            own[row] = popularity**_POP_EXPONENT * affinity * d_tilt[prod_d] * preference
        own /= own.sum(axis=1, keepdims=True)
        q = np.empty((len(_LABELS), _N_PRODUCTS))
        for row, label in enumerate(_TRAINABLE):
            q[label] = _MIX * own[row] + (1.0 - _MIX) * popularity
        q[_XX] = popularity

        # Stores: regions within a 2x band of each other, formats, traffic.
        region_weight = rng.uniform(0.80, 1.20, len(_REGIONS))
        store_region = _draw(_cdf(region_weight), rng.random(_N_STORES))
        store_region[: len(_REGIONS)] = np.arange(len(_REGIONS))  # every region has stores
        store_region = np.sort(store_region)
        store_format = _draw(_cdf(_FORMAT_SHARES), rng.random(_N_STORES))
        traffic = _FORMAT_TRAFFIC[store_format] * rng.lognormal(0.0, 0.3, _N_STORES)
        region_total = np.bincount(store_region, weights=traffic, minlength=len(_REGIONS))
        traffic *= region_weight[store_region] / region_total[store_region]
        store_codes = _codes(rng, "STORE", _N_STORES, 1, 1000, 5)

        # Customers: segment (the label prior), lifestage, home store, frequency.
        cust_segment = _draw(_cdf(_LABEL_PRIOR), rng.random(_N_CUSTOMERS))
        cust_lifestage = _draw_rows(_cdf(_LIFESTAGE_BY_SEGMENT)[cust_segment], rng.random(_N_CUSTOMERS))
        store_cdf = _cdf(traffic)
        cust_home = _draw(store_cdf, rng.random(_N_CUSTOMERS))
        frequency = rng.lognormal(0.0, 0.8, _N_CUSTOMERS)
        cust_codes = _codes(rng, "CUST", _N_CUSTOMERS, 100_000, 1_000_000, 10)

        world = cls(
            prod_codes=prod_codes,
            cl_codes=cl_codes,
            dep_codes=dep_codes,
            g_codes=g_codes,
            d_codes=d_codes,
            prod_cl=prod_cl,
            prod_dep=prod_dep,
            prod_g=prod_g,
            prod_d=prod_d,
            prod_tier=tier,
            prod_mission=_D_MISSION[prod_d],
            price_pence=price_pence,
            multibuy=multibuy,
            popularity=popularity,
            q=q,
            own_cdf=_cdf(own),
            pop_cdf=_cdf(popularity),
            store_codes=store_codes,
            store_format=store_format,
            store_region=store_region,
            store_cdf=store_cdf,
            cust_codes=cust_codes,
            cust_segment=cust_segment,
            cust_lifestage=cust_lifestage,
            cust_home=cust_home,
            cust_cdf=_cdf(frequency),
        )
        world.series = world._lookup_series()
        return world

    def _lookup_series(self) -> dict[str, pl.Series]:
        def s(values) -> pl.Series:
            return pl.Series(values=list(values), dtype=pl.String)

        alt_segment = {v: k for k, v in contract.ALTERNATIVE_CODES["CUST_PRICE_SENSITIVITY"].items()}
        alt_lifestage = {v: k for k, v in contract.ALTERNATIVE_CODES["CUST_LIFESTAGE"].items()}
        # Index -1 (anonymous) maps to the trailing null.
        return {
            "PROD_CODE": s(self.prod_codes),
            "PROD_CODE_10": s(self.cl_codes),
            "PROD_CODE_20": s(self.dep_codes),
            "PROD_CODE_30": s(self.g_codes),
            "PROD_CODE_40": s(self.d_codes),
            "CUST_CODE": s([*self.cust_codes, None]),
            "segment:dunnhumby": s([*_LABELS, None]),
            "lifestage:dunnhumby": s([*_LIFESTAGES, None]),
            "segment:seg": s([*(alt_segment.get(c, c) for c in _LABELS), None]),
            "lifestage:seg": s([*(alt_lifestage.get(c, c) for c in _LIFESTAGES), None]),
            "BASKET_SIZE": s(_SIZES),
            "BASKET_PRICE_SENSITIVITY": s(_LABELS),
            "BASKET_TYPE": s(_TYPES),
            "BASKET_DOMINANT_MISSION": s([*_MISSIONS, "Mixed", "XX"]),
            "STORE_CODE": s(self.store_codes),
            "STORE_FORMAT": s(_FORMATS),
            "STORE_REGION": s(_REGIONS),
        }


# --- one week ---------------------------------------------------------------------------------


@dataclass
class _Week:
    # basket level (index = basket, in time order)
    day: np.ndarray  # 0..6 from Monday
    shop_date: np.ndarray  # YYYYMMDD
    weekday: np.ndarray  # 1 = Sunday
    hour: np.ndarray
    customer: np.ndarray  # -1 = anonymous
    store: np.ndarray
    label: np.ndarray
    size: np.ndarray
    basket_type: np.ndarray
    mission: np.ndarray
    basket_id: np.ndarray
    ceiling_prediction: np.ndarray
    # line level, grouped by basket
    line_basket: np.ndarray
    line_product: np.ndarray
    quantity: np.ndarray
    spend_pence: np.ndarray

    @property
    def n_lines(self) -> int:
        return int(self.line_basket.size)

    def frame(self, world: _World, week_code: int, column_spelling: str) -> pl.DataFrame:
        series = world.series
        b = self.line_basket
        customer = self.customer[b]
        anonymous = customer < 0
        segment = np.where(anonymous, len(_LABELS), world.cust_segment[np.maximum(customer, 0)])
        lifestage = np.where(anonymous, len(_LIFESTAGES), world.cust_lifestage[np.maximum(customer, 0)])
        customer = np.where(anonymous, len(world.cust_codes), customer)
        product = self.line_product
        store = self.store[b]

        def look(name: str, index: np.ndarray) -> pl.Series:
            return series[name].gather(pl.Series(np.asarray(index, dtype=np.uint32)))

        columns = {
            "SHOP_WEEK": pl.Series(np.full(b.size, week_code, dtype=np.int64)),
            "SHOP_DATE": pl.Series(self.shop_date[b]),
            "SHOP_WEEKDAY": pl.Series(self.weekday[b]),
            "SHOP_HOUR": pl.Series(self.hour[b]),
            "QUANTITY": pl.Series(self.quantity),
            "SPEND": pl.Series(self.spend_pence / 100.0),
            "PROD_CODE": look("PROD_CODE", product),
            "PROD_CODE_10": look("PROD_CODE_10", world.prod_cl[product]),
            "PROD_CODE_20": look("PROD_CODE_20", world.prod_dep[product]),
            "PROD_CODE_30": look("PROD_CODE_30", world.prod_g[product]),
            "PROD_CODE_40": look("PROD_CODE_40", world.prod_d[product]),
            "CUST_CODE": look("CUST_CODE", customer),
            "CUST_PRICE_SENSITIVITY": look(f"segment:{column_spelling}", segment),
            "CUST_LIFESTAGE": look(f"lifestage:{column_spelling}", lifestage),
            "BASKET_ID": pl.Series(self.basket_id[b]),
            "BASKET_SIZE": look("BASKET_SIZE", self.size[b]),
            "BASKET_PRICE_SENSITIVITY": look("BASKET_PRICE_SENSITIVITY", self.label[b]),
            "BASKET_TYPE": look("BASKET_TYPE", self.basket_type[b]),
            "BASKET_DOMINANT_MISSION": look("BASKET_DOMINANT_MISSION", self.mission[b]),
            "STORE_CODE": look("STORE_CODE", store),
            "STORE_FORMAT": look("STORE_FORMAT", world.store_format[store]),
            "STORE_REGION": look("STORE_REGION", world.store_region[store]),
        }
        assert tuple(columns) == contract.COLUMNS
        frame = pl.DataFrame([s.alias(name) for name, s in columns.items()])
        if column_spelling == "seg":
            frame = frame.rename({v: k for k, v in contract.ALTERNATIVE_COLUMN_NAMES.items()})
        return frame


def _size_probabilities() -> np.ndarray:
    """P(size | label, store format) as an array (label, format, size)."""
    table = _SIZE_TILT[:, None, :] * _SIZE_BY_FORMAT[None, :, :]
    return table / table.sum(axis=2, keepdims=True)


def _type_probabilities() -> np.ndarray:
    """P(type | label, size) as an array (label, size, type)."""
    table = np.broadcast_to(_TYPE_BY_SIZE, (len(_LABELS), *_TYPE_BY_SIZE.shape)).copy()
    xx = table[_XX] * (1.0 - _P_XX_TYPE_GIVEN_XX_LABEL) / (1.0 - table[_XX][:, [_TYPE_XX]])
    xx[:, _TYPE_XX] = _P_XX_TYPE_GIVEN_XX_LABEL
    table[_XX] = xx
    return table / table.sum(axis=2, keepdims=True)


def _generate_week(world: _World, seed: int, monday: date, n: int) -> _Week:
    iso = monday.isocalendar()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1, iso.year, iso.week]))

    # Shopper, store, label.
    anonymous = rng.random(n) < _P_ANONYMOUS
    customer = np.where(anonymous, -1, _draw(world.cust_cdf, rng.random(n)))
    known = ~anonymous
    home = world.cust_home[np.maximum(customer, 0)]
    at_home = known & (rng.random(n) < _P_HOME_STORE)
    store = np.where(at_home, home, _draw(world.store_cdf, rng.random(n)))
    segment = np.where(known, world.cust_segment[np.maximum(customer, 0)], -1)
    label = _draw(_cdf(_LABEL_PRIOR), rng.random(n))
    agree = known & (rng.random(n) < _AGREEMENT)
    label = np.where(agree, segment, label)

    # Basket attributes.
    fmt = world.store_format[store]
    size_p = _size_probabilities()
    type_p = _type_probabilities()
    size = _draw_rows(_cdf(size_p[label, fmt]), rng.random(n))
    basket_type = _draw_rows(_cdf(type_p[label, size]), rng.random(n))
    day = _draw_rows(_cdf(_DAY_BY_TYPE)[basket_type], rng.random(n))
    hour = _HOURS[_draw(_cdf(_HOUR_WEIGHTS), rng.random(n))]

    # Time order: baskets sorted by day and hour get increasing basket ids.
    order = np.lexsort((hour, day))
    customer, store, segment, label, fmt, size, basket_type, day, hour = (
        a[order] for a in (customer, store, segment, label, fmt, size, basket_type, day, hour)
    )
    dates = [monday + timedelta(days=int(d)) for d in range(7)]
    shop_date = np.array([d.year * 10000 + d.month * 100 + d.day for d in dates], dtype=np.int64)[day]
    weekday = np.array([d.isoweekday() % 7 + 1 for d in dates], dtype=np.int64)[day]
    week_key = (iso.year - 1900) * 53 + iso.week
    basket_id = _BASKET_ID_BASE + week_key * _MAX_BASKETS_PER_WEEK
    basket_id += np.sort(rng.choice(_MAX_BASKETS_PER_WEEK, size=n, replace=False)).astype(np.int64)

    # Products: Poisson(r) draws (at least one) from the label's mixture; repeats merge.
    rate = _DRAW_RATE[size, basket_type]
    draws = rng.poisson(rate)
    empty = np.flatnonzero(draws == 0)
    while empty.size:
        draws[empty] = rng.poisson(rate[empty])
        empty = empty[draws[empty] == 0]
    draw_basket = np.repeat(np.arange(n), draws)
    draw_label = label[draw_basket]
    u_component = rng.random(draw_basket.size)
    u_product = rng.random(draw_basket.size)
    product = _draw(world.pop_cdf, u_product)
    for row, code in enumerate(_TRAINABLE):
        own = (draw_label == code) & (u_component < _MIX)
        product[own] = _draw(world.own_cdf[row], u_product[own])
    keys = np.unique(draw_basket.astype(np.int64) * _N_PRODUCTS + product)
    line_basket, line_product = np.divmod(keys, _N_PRODUCTS)

    # Quantity and spend depend on the product only (plus promotion noise).
    quantity = 1 + rng.poisson(world.multibuy[line_product])
    factor = np.where(
        rng.random(line_basket.size) < _P_PROMOTION,
        _PROMOTION_FACTORS[rng.integers(0, _PROMOTION_FACTORS.size, line_basket.size)],
        1.0,
    )
    spend_pence = np.maximum(np.round(world.price_pence[line_product] * quantity * factor), 1).astype(np.int64)

    # Mission from spend by the departments' mission; XX with an XX basket type.
    by_mission = np.bincount(
        line_basket * len(_MISSIONS) + world.prod_mission[line_product],
        weights=spend_pence,
        minlength=n * len(_MISSIONS),
    ).reshape(n, len(_MISSIONS))
    share = by_mission / by_mission.sum(axis=1, keepdims=True)
    mission = np.where(share.max(axis=1) >= _MISSION_DOMINANCE, share.argmax(axis=1), len(_MISSIONS))
    mission = np.where(basket_type == _TYPE_XX, len(_MISSIONS) + 1, mission)

    # The exact posterior over labels and its argmax over the trainable ones.
    log_post = _log_prior(segment) + np.log(size_p[:, fmt, size].T) + np.log(type_p[:, size, basket_type].T)
    v = rate[line_basket][:, None] * world.q[:, line_product].T  # (lines, labels)
    term = np.log(-np.expm1(-v)) + v
    for label_index in range(len(_LABELS)):
        log_post[:, label_index] += np.bincount(line_basket, weights=term[:, label_index], minlength=n)
    prediction = _TRAINABLE[np.argmax(log_post[:, _TRAINABLE], axis=1)]

    return _Week(
        day=day,
        shop_date=shop_date,
        weekday=weekday,
        hour=hour,
        customer=customer,
        store=store,
        label=label,
        size=size,
        basket_type=basket_type,
        mission=mission,
        basket_id=basket_id,
        ceiling_prediction=prediction,
        line_basket=line_basket,
        line_product=line_product,
        quantity=quantity,
        spend_pence=spend_pence,
    )


def _log_prior(segment: np.ndarray) -> np.ndarray:
    """log P(label | customer segment), segment -1 = anonymous; shape (baskets, labels)."""
    prior = np.tile(_LABEL_PRIOR, (segment.size, 1))
    known = segment >= 0
    prior[known] *= 1.0 - _AGREEMENT
    prior[np.flatnonzero(known), segment[known]] += _AGREEMENT
    return np.log(prior)


def _ceiling_scores(label: np.ndarray, prediction: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    keep = label != _XX
    if not keep.any():
        return float("nan"), float("nan")
    truth = np.asarray(_LABELS)[label[keep]]
    predicted = np.asarray(_LABELS)[prediction[keep]]
    accuracy = float(np.mean(truth == predicted))
    macro_f1 = float(f1_score(truth, predicted, labels=list(TRAINABLE_CODES), average="macro", zero_division=0))
    return accuracy, macro_f1
