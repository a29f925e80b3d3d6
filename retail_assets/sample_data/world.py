"""The world both sample-data profiles share, and what every basket is built from.

A *world* is drawn once from the seed: a product hierarchy (about 10 D > 90 G > 250 DEP >
1,000 CL > 5,000 PRD, every child with exactly one parent), each product with a price tier
(value / standard / premium), a unit price that fits the tier and its department, a Zipf-like
popularity and a multi-buy propensity, and three product "tastes" (one per trainable label: the
products a less-affluent, mid-market or up-market shopper favours); 761 stores over 12 regions;
5,000 customers, each with a price-sensitivity segment, a lifestage, a home store and a shopping
frequency. The steps every profile shares (shopper and store, the time in the week, products
drawn from a taste, quantity, spend and mission) are here; each profile decides how the label
relates to them (default.py, realistic.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from retail_assets.ingest import contract
from retail_model.labels import TRAINABLE_CODES, UNCLASSIFIED_CODE

# --- the world ----------------------------------------------------------------------------------
N_D, N_G, N_DEP, N_CL, N_PRODUCTS = 10, 90, 250, 1000, 5000
N_STORES = 761
N_CUSTOMERS = 5000
REGIONS = tuple(f"{side}{n:02d}" for side in "ENSW" for n in (1, 2, 3))

# Departments (D level) by shopping mission; the mission column is derived from basket spend.
MISSIONS = ("Fresh", "Grocery", "Nonfood")
D_MISSION = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])  # D1-3 Fresh, D4-7 Grocery, D8-10 Nonfood
D_PRICE_PENCE = np.array([150, 120, 230, 110, 90, 140, 200, 180, 300, 450], dtype=float)
# Popularity multiplier by department: food is bought far more often than nonfood.
D_POPULARITY = np.array([1.3, 1.2, 1.0, 1.2, 1.1, 1.0, 0.9, 0.45, 0.35, 0.25])

TIERS = ("value", "standard", "premium")
TIER_SHARES = np.array([0.30, 0.45, 0.25])
TIER_PRICE = np.array([0.60, 1.00, 1.85])

LABELS = contract.PRICE_SENSITIVITY_CODES  # LA, MM, UM, XX: indices 0..3
LA, MM, UM, XX = (LABELS.index(code) for code in ("LA", "MM", "UM", "XX"))
assert LABELS[XX] == UNCLASSIFIED_CODE and set(TRAINABLE_CODES) == {"LA", "MM", "UM"}
TRAINABLE = np.array([LABELS.index(code) for code in TRAINABLE_CODES])
LABEL_PRIOR = np.array([0.23, 0.51, 0.24, 0.02])  # in LABELS order

LIFESTAGES = contract.LIFESTAGE_CODES  # YA OA YF OF PE OT XX
# P(lifestage | customer segment): up-market customers skew older, less-affluent ones to families.
LIFESTAGE_BY_SEGMENT = np.array(
    [
        [0.16, 0.10, 0.24, 0.16, 0.16, 0.12, 0.06],  # LA
        [0.14, 0.18, 0.17, 0.19, 0.17, 0.10, 0.05],  # MM
        [0.13, 0.27, 0.11, 0.18, 0.18, 0.09, 0.04],  # UM
        [0.12, 0.12, 0.12, 0.12, 0.12, 0.10, 0.30],  # XX
    ]
)

FORMATS = contract.STORE_FORMATS  # LS MS SS XLS
FORMAT_SHARES = np.array([0.27, 0.28, 0.35, 0.10])
FORMAT_TRAFFIC = np.array([1.6, 1.0, 0.6, 2.6])

# --- the weekly process shared by the profiles ---------------------------------------------------
P_ANONYMOUS = 0.20
P_HOME_STORE = 0.85
MIX = 0.80  # share of product draws from the label's own distribution (the signal)
POP_EXPONENT = 0.80  # how much of general popularity the label distributions keep
# Each product is the favourite of one label, mostly the one its tier suits: P(label | tier),
# rows value, standard, premium; columns LA, MM, UM.
FAVOURITE_BY_TIER = np.array([[0.70, 0.20, 0.10], [0.15, 0.70, 0.15], [0.10, 0.20, 0.70]])
NON_FAVOURITE_WEIGHT = 0.05  # weight of a product in the other labels' own distributions
PREFERENCE_SIGMA = 0.5  # product-level noise on each label's weights (lognormal)
D_AFFINITY_SIGMA = 0.35  # each label's department tilt (lognormal)

SIZES = contract.BASKET_SIZES  # S M L
TYPES = contract.BASKET_TYPES  # Small Shop, Top Up, Full Shop, XX
TYPE_XX = TYPES.index("XX")
# P(size | store format) and the label's multiplicative tilt on it.
SIZE_BY_FORMAT = np.array(
    [
        [0.40, 0.38, 0.22],  # LS
        [0.45, 0.37, 0.18],  # MS
        [0.55, 0.33, 0.12],  # SS
        [0.33, 0.39, 0.28],  # XLS
    ]
)
# P(type | size), for labelled baskets; XX-labelled baskets get an XX type 35% of the time.
TYPE_BY_SIZE = np.array(
    [
        [0.927, 0.070, 0.000, 0.003],  # S
        [0.420, 0.525, 0.052, 0.003],  # M
        [0.030, 0.520, 0.447, 0.003],  # L
    ]
)
# Poisson rate of product draws by (size, type).
DRAW_RATE = np.array(
    [
        [2.0, 2.5, 3.1, 2.2],  # S
        [5.8, 6.8, 8.3, 6.3],  # M
        [12.6, 14.6, 17.5, 14.6],  # L
    ]
)
# Day of the shop week (Monday..Sunday offsets) by basket type: full shops lean to the weekend.
DAY_BY_TYPE = np.array(
    [
        [0.14, 0.14, 0.14, 0.15, 0.16, 0.15, 0.12],
        [0.13, 0.13, 0.14, 0.15, 0.17, 0.16, 0.12],
        [0.10, 0.10, 0.11, 0.13, 0.17, 0.23, 0.16],
        [0.14, 0.14, 0.14, 0.15, 0.16, 0.15, 0.12],
    ]
)
HOURS = np.arange(8, 22)
HOUR_WEIGHTS = np.array([3, 5, 7, 8, 10, 9, 7, 7, 8, 10, 9, 7, 5, 3], dtype=float)
P_PROMOTION = 0.12
PROMOTION_FACTORS = np.array([0.50, 0.67, 0.75, 0.80])
MISSION_DOMINANCE = 0.60

BASKET_ID_BASE = 994_100_000_000_000
MAX_BASKETS_PER_WEEK = 1_000_000

# --- calendar ---------------------------------------------------------------------------------


def week_monday(week_code: int) -> date:
    """The Monday of ISO shop week YYYYWW; ValueError for a week that does not exist."""
    year, week = divmod(int(week_code), 100)
    if not 1900 <= year <= 2999:
        raise ValueError(f"first_week must be YYYYWW with a year in 1900..2999, got {week_code}")
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError as error:
        raise ValueError(f"first_week {week_code} is not a valid YYYYWW shop week: {error}") from None


# --- the world ----------------------------------------------------------------------------------


def cumulative(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights, axis=-1, dtype=float)
    cdf /= cdf[..., -1:]
    return cdf


def draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn from a 1-D cdf with uniforms u."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1)


def draw_rows(cdf_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One index per row of a 2-D cdf (one distribution per row) with one uniform per row."""
    return np.minimum((u[:, None] >= cdf_rows).sum(axis=1), cdf_rows.shape[1] - 1)


def assign_parents(rng: np.random.Generator, n_children: int, n_parents: int, sigma: float) -> np.ndarray:
    """Every parent gets at least one child, the rest by uneven (lognormal) weights; sorted."""
    weights = rng.lognormal(0.0, sigma, n_parents)
    rest = draw(cumulative(weights), rng.random(n_children - n_parents))
    return np.sort(np.concatenate([np.arange(n_parents), rest]))


def make_codes(rng: np.random.Generator, prefix: str, n: int, low: int, high: int, width: int) -> list[str]:
    numbers = np.sort(rng.choice(np.arange(low, high), size=n, replace=False))
    return [f"{prefix}{number:0{width}d}" for number in numbers]


@dataclass
class World:
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
    def build(cls, seed: int) -> World:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0]))

        # Hierarchy: D > G > DEP > CL > PRD, each child with exactly one parent.
        g_d = assign_parents(rng, N_G, N_D, 0.4)
        dep_g = assign_parents(rng, N_DEP, N_G, 0.5)
        cl_dep = assign_parents(rng, N_CL, N_DEP, 0.6)
        prod_cl = assign_parents(rng, N_PRODUCTS, N_CL, 0.7)
        prod_dep = cl_dep[prod_cl]
        prod_g = dep_g[prod_dep]
        prod_d = g_d[prod_g]
        d_codes = [f"D{i + 1:05d}" for i in range(N_D)]
        g_codes = make_codes(rng, "G", N_G, 1, 130, 5)
        dep_codes = make_codes(rng, "DEP", N_DEP, 1, 400, 5)
        cl_codes = make_codes(rng, "CL", N_CL, 1, 1500, 5)
        prod_codes = make_codes(rng, "PRD0", N_PRODUCTS, 900_001, 999_999, 6)

        # Products: tier, price, multi-buy propensity, Zipf-like popularity.
        tier = draw(cumulative(TIER_SHARES), rng.random(N_PRODUCTS))
        cl_price = D_PRICE_PENCE[g_d[dep_g[cl_dep]]] * rng.lognormal(0.0, 0.45, N_CL)
        raw_price = cl_price[prod_cl] * TIER_PRICE[tier] * rng.lognormal(0.0, 0.12, N_PRODUCTS)
        price_pence = np.maximum(np.round(raw_price / 10.0) * 10.0 - 1.0, 19.0).astype(np.int64)
        multibuy = np.clip(0.35 * (100.0 / price_pence) ** 0.5 * rng.lognormal(0.0, 0.4, N_PRODUCTS), 0.02, 0.9)
        rank = rng.permutation(N_PRODUCTS)
        popularity = D_POPULARITY[prod_d] / (rank + 8.0)
        popularity /= popularity.sum()

        # Each trainable label's own product distribution: tier affinity x department tilt x
        # label-specific preferences, on top of a flattened popularity.
        favourite = draw_rows(cumulative(FAVOURITE_BY_TIER)[tier], rng.random(N_PRODUCTS))
        own = np.empty((len(TRAINABLE), N_PRODUCTS))
        for row in range(len(TRAINABLE)):
            d_tilt = rng.lognormal(0.0, D_AFFINITY_SIGMA, N_D)
            preference = rng.lognormal(0.0, PREFERENCE_SIGMA, N_PRODUCTS)
            affinity = np.where(favourite == row, 1.0, NON_FAVOURITE_WEIGHT)
            own[row] = popularity**POP_EXPONENT * affinity * d_tilt[prod_d] * preference
        own /= own.sum(axis=1, keepdims=True)
        q = np.empty((len(LABELS), N_PRODUCTS))
        for row, label in enumerate(TRAINABLE):
            q[label] = MIX * own[row] + (1.0 - MIX) * popularity
        q[XX] = popularity

        # Stores: regions within a 2x band of each other, formats, traffic.
        region_weight = rng.uniform(0.80, 1.20, len(REGIONS))
        store_region = draw(cumulative(region_weight), rng.random(N_STORES))
        store_region[: len(REGIONS)] = np.arange(len(REGIONS))  # every region has stores
        store_region = np.sort(store_region)
        store_format = draw(cumulative(FORMAT_SHARES), rng.random(N_STORES))
        traffic = FORMAT_TRAFFIC[store_format] * rng.lognormal(0.0, 0.3, N_STORES)
        region_total = np.bincount(store_region, weights=traffic, minlength=len(REGIONS))
        traffic *= region_weight[store_region] / region_total[store_region]
        store_codes = make_codes(rng, "STORE", N_STORES, 1, 1000, 5)

        # Customers: segment (the label prior), lifestage, home store, frequency.
        cust_segment = draw(cumulative(LABEL_PRIOR), rng.random(N_CUSTOMERS))
        cust_lifestage = draw_rows(cumulative(LIFESTAGE_BY_SEGMENT)[cust_segment], rng.random(N_CUSTOMERS))
        store_cdf = cumulative(traffic)
        cust_home = draw(store_cdf, rng.random(N_CUSTOMERS))
        frequency = rng.lognormal(0.0, 0.8, N_CUSTOMERS)
        cust_codes = make_codes(rng, "CUST", N_CUSTOMERS, 100_000, 1_000_000, 10)

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
            prod_mission=D_MISSION[prod_d],
            price_pence=price_pence,
            multibuy=multibuy,
            popularity=popularity,
            q=q,
            own_cdf=cumulative(own),
            pop_cdf=cumulative(popularity),
            store_codes=store_codes,
            store_format=store_format,
            store_region=store_region,
            store_cdf=store_cdf,
            cust_codes=cust_codes,
            cust_segment=cust_segment,
            cust_lifestage=cust_lifestage,
            cust_home=cust_home,
            cust_cdf=cumulative(frequency),
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
            "segment:dunnhumby": s([*LABELS, None]),
            "lifestage:dunnhumby": s([*LIFESTAGES, None]),
            "segment:seg": s([*(alt_segment.get(c, c) for c in LABELS), None]),
            "lifestage:seg": s([*(alt_lifestage.get(c, c) for c in LIFESTAGES), None]),
            "BASKET_SIZE": s(SIZES),
            "BASKET_PRICE_SENSITIVITY": s(LABELS),
            "BASKET_TYPE": s(TYPES),
            "BASKET_DOMINANT_MISSION": s([*MISSIONS, "Mixed", "XX"]),
            "STORE_CODE": s(self.store_codes),
            "STORE_FORMAT": s(FORMATS),
            "STORE_REGION": s(REGIONS),
        }


# --- one week ---------------------------------------------------------------------------------


@dataclass
class Week:
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

    def frame(self, world: World, week_code: int, column_spelling: str) -> pl.DataFrame:
        series = world.series
        b = self.line_basket
        customer = self.customer[b]
        anonymous = customer < 0
        segment = np.where(anonymous, len(LABELS), world.cust_segment[np.maximum(customer, 0)])
        lifestage = np.where(anonymous, len(LIFESTAGES), world.cust_lifestage[np.maximum(customer, 0)])
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




# --- steps every profile takes, in this order (the random stream depends on it) ----------------


@dataclass
class Shoppers:
    customer: np.ndarray  # -1 = anonymous
    store: np.ndarray
    segment: np.ndarray  # the customer's segment (a LABELS index), -1 = anonymous


def draw_shoppers(world: World, rng: np.random.Generator, n: int) -> Shoppers:
    """Anonymous 20% of the time, else a customer by frequency, at the home store 85% of the time."""
    anonymous = rng.random(n) < P_ANONYMOUS
    customer = np.where(anonymous, -1, draw(world.cust_cdf, rng.random(n)))
    known = ~anonymous
    home = world.cust_home[np.maximum(customer, 0)]
    at_home = known & (rng.random(n) < P_HOME_STORE)
    store = np.where(at_home, home, draw(world.store_cdf, rng.random(n)))
    segment = np.where(known, world.cust_segment[np.maximum(customer, 0)], -1)
    return Shoppers(customer, store, segment)


@dataclass
class Schedule:
    order: np.ndarray  # the permutation that puts the baskets in time order (apply it to every basket array)
    day: np.ndarray
    hour: np.ndarray
    shop_date: np.ndarray
    weekday: np.ndarray
    basket_id: np.ndarray


def schedule(rng: np.random.Generator, monday: date, basket_type: np.ndarray) -> Schedule:
    """Day by basket type, hour, time order, and basket ids increasing with time inside the week."""
    n = basket_type.size
    day = draw_rows(cumulative(DAY_BY_TYPE)[basket_type], rng.random(n))
    hour = HOURS[draw(cumulative(HOUR_WEIGHTS), rng.random(n))]
    order = np.lexsort((hour, day))
    day, hour = day[order], hour[order]
    iso = monday.isocalendar()
    dates = [monday + timedelta(days=int(d)) for d in range(7)]
    shop_date = np.array([d.year * 10000 + d.month * 100 + d.day for d in dates], dtype=np.int64)[day]
    weekday = np.array([d.isoweekday() % 7 + 1 for d in dates], dtype=np.int64)[day]
    week_key = (iso.year - 1900) * 53 + iso.week
    basket_id = BASKET_ID_BASE + week_key * MAX_BASKETS_PER_WEEK
    basket_id += np.sort(rng.choice(MAX_BASKETS_PER_WEEK, size=n, replace=False)).astype(np.int64)
    return Schedule(order, day, hour, shop_date, weekday, basket_id)


def draw_products(
    world: World, rng: np.random.Generator, rate: np.ndarray, taste: np.ndarray, mix: float, taste_cdf: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(rate) draws per basket (at least one), each from the basket's taste with probability
    `mix` (taste: a LABELS index; XX = popularity only) and otherwise by popularity; repeated
    draws of a product merge into one line. Returns (line_basket, line_product), grouped by basket.
    `taste_cdf` (one row per trainable label) defaults to the world's label distributions.
    """
    taste_cdf = world.own_cdf if taste_cdf is None else taste_cdf
    n = rate.size
    draws = rng.poisson(rate)
    empty = np.flatnonzero(draws == 0)
    while empty.size:
        draws[empty] = rng.poisson(rate[empty])
        empty = empty[draws[empty] == 0]
    draw_basket = np.repeat(np.arange(n), draws)
    draw_taste = taste[draw_basket]
    u_component = rng.random(draw_basket.size)
    u_product = rng.random(draw_basket.size)
    product = draw(world.pop_cdf, u_product)
    for row, code in enumerate(TRAINABLE):
        own = (draw_taste == code) & (u_component < mix)
        product[own] = draw(taste_cdf[row], u_product[own])
    keys = np.unique(draw_basket.astype(np.int64) * N_PRODUCTS + product)
    return np.divmod(keys, N_PRODUCTS)


@dataclass
class Lines:
    quantity: np.ndarray
    spend_pence: np.ndarray
    mission: np.ndarray  # per basket


def price_lines(world: World, rng: np.random.Generator, line_basket: np.ndarray, line_product: np.ndarray, basket_type: np.ndarray) -> Lines:
    """Quantity and spend from the product alone (plus promotions); the basket's dominant mission."""
    n = basket_type.size
    quantity = 1 + rng.poisson(world.multibuy[line_product])
    factor = np.where(
        rng.random(line_basket.size) < P_PROMOTION,
        PROMOTION_FACTORS[rng.integers(0, PROMOTION_FACTORS.size, line_basket.size)],
        1.0,
    )
    spend_pence = np.maximum(np.round(world.price_pence[line_product] * quantity * factor), 1).astype(np.int64)
    # Mission from spend by the departments' mission; XX with an XX basket type.
    by_mission = np.bincount(
        line_basket * len(MISSIONS) + world.prod_mission[line_product],
        weights=spend_pence,
        minlength=n * len(MISSIONS),
    ).reshape(n, len(MISSIONS))
    share = by_mission / by_mission.sum(axis=1, keepdims=True)
    mission = np.where(share.max(axis=1) >= MISSION_DOMINANCE, share.argmax(axis=1), len(MISSIONS))
    mission = np.where(basket_type == TYPE_XX, len(MISSIONS) + 1, mission)
    return Lines(quantity, spend_pence, mission)
