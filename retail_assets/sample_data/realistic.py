"""The realistic profile: the label is (nearly) a function of the products in the basket.

On the real dunnhumby extract a basket's price sensitivity is close to determined by what it
holds: a product-presence logistic regression reaches 0.99 macro-F1 there, far above this
generator's default profile (whose ceiling is about 0.93 by design). This profile reproduces
that regime. For every basket, in order:

1. shopper and store, as in every profile; the shopper's *taste* is the customer's segment (an
   anonymous shopper's is drawn from the prior);
2. BASKET_SIZE from P(size | store format), BASKET_TYPE from P(type | size), day and hour: the
   label does not shape them here;
3. products: Poisson(r) draws, each from the taste's product distribution with probability
   ``TASTE_MIX`` and otherwise by popularity (so customers and basket attributes still say
   something about the label, through the products);
4. quantity, spend and mission as in every profile;
5. the label, from the products: each product has a price position (its tier, -1 value / 0
   standard / +1 premium, plus a class-level and a product-level offset); the basket's index is
   the mean position of its products; LA below ``LA_BELOW``, UM above ``UM_ABOVE``, MM between.
   Then ``LABEL_NOISE`` of the baskets get a label drawn from the prior instead, and baskets of
   type XX (plus ``P_XX`` of the rest) are XX.

The rule is linear in product presence (index < t  <=>  sum over the basket's products of
(position - t) < 0), so a weakly regularised linear model over presence can learn it, and the
Bayes-optimal prediction is the rule's label: the ceiling only misses the noise.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from retail_assets.sample_data.world import (
    DRAW_RATE,
    LA,
    LABEL_PRIOR,
    MM,
    N_DEP,
    N_PRODUCTS,
    SIZE_BY_FORMAT,
    TIER_SHARES,
    TRAINABLE,
    TYPE_BY_SIZE,
    TYPE_XX,
    UM,
    XX,
    Week,
    World,
    cumulative,
    draw,
    draw_products,
    draw_rows,
    draw_shoppers,
    price_lines,
    schedule,
)

TASTE_MIX = 0.98  # share of product draws from the shopper's taste (the rest by popularity)
OFF_TIER_WEIGHT = 0.01  # weight of a product outside the taste's tier in the taste's distribution
TASTE_POPULARITY_EXPONENT = 1.3  # above 1: tastes concentrate on popular products (well known to a model)
TIER_POSITION = np.array([-1.0, 0.0, 1.0])  # value, standard, premium
CLASS_SIGMA = 0.0  # a class's (CL) offset on its products' positions (0: the tier alone)
PRODUCT_SIGMA = 0.0  # a product's own offset
LA_BELOW, UM_ABOVE = -0.4, 0.4  # basket index thresholds
LABEL_NOISE = 0.004  # baskets whose label is drawn from the prior instead of the rule
P_XX = 0.017  # XX (unclassified) labels besides every basket of type XX


def class_tiers(seed: int) -> np.ndarray:
    """Each class's (CL) price tier: a range is value, standard or premium as a whole."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    return draw(cumulative(TIER_SHARES), rng.random(N_DEP))


def product_positions(world: World, seed: int) -> np.ndarray:
    """Each product's price position: its class's tier, a class offset and its own offset."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    tiers = draw(cumulative(TIER_SHARES), rng.random(N_DEP))  # the same draws as class_tiers
    by_class = rng.normal(0.0, CLASS_SIGMA, N_DEP)
    return TIER_POSITION[tiers[world.prod_dep]] + by_class[world.prod_dep] + rng.normal(0.0, PRODUCT_SIGMA, N_PRODUCTS)


def taste_distributions(world: World, seed: int) -> np.ndarray:
    """Cdf rows (LA, MM, UM): each taste keeps to its tier (value, standard, premium), by popularity."""
    tier = class_tiers(seed)[world.prod_dep]
    weights = np.where(tier[None, :] == np.arange(len(TRAINABLE))[:, None], 1.0, OFF_TIER_WEIGHT)
    return cumulative(world.popularity[None, :] ** TASTE_POPULARITY_EXPONENT * weights)


def generate_week(world: World, seed: int, monday: date, n: int) -> Week:
    iso = monday.isocalendar()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 3, iso.year, iso.week]))

    shoppers = draw_shoppers(world, rng, n)
    trainable_prior = LABEL_PRIOR[TRAINABLE] / LABEL_PRIOR[TRAINABLE].sum()
    anonymous_taste = TRAINABLE[draw(cumulative(trainable_prior), rng.random(n))]
    taste = np.where(shoppers.segment >= 0, shoppers.segment, anonymous_taste)
    taste = np.where(taste == XX, MM, taste)  # an XX customer shops like the middle of the market

    fmt = world.store_format[shoppers.store]
    size = draw_rows(cumulative(SIZE_BY_FORMAT[fmt]), rng.random(n))
    basket_type = draw_rows(cumulative(TYPE_BY_SIZE[size]), rng.random(n))
    when = schedule(rng, monday, basket_type)
    customer, store, taste, size, basket_type = (
        a[when.order] for a in (shoppers.customer, shoppers.store, taste, size, basket_type)
    )

    line_basket, line_product = draw_products(world, rng, DRAW_RATE[size, basket_type], taste, TASTE_MIX, taste_distributions(world, seed))
    lines = price_lines(world, rng, line_basket, line_product, basket_type)

    positions = product_positions(world, seed)
    index = np.bincount(line_basket, weights=positions[line_product], minlength=n) / np.bincount(line_basket, minlength=n)
    rule = np.where(index < LA_BELOW, LA, np.where(index > UM_ABOVE, UM, MM))
    noisy = rng.random(n) < LABEL_NOISE
    label = np.where(noisy, draw(cumulative(LABEL_PRIOR), rng.random(n)), rule)
    label = np.where((basket_type == TYPE_XX) | (rng.random(n) < P_XX), XX, label)

    return Week(
        day=when.day,
        shop_date=when.shop_date,
        weekday=when.weekday,
        hour=when.hour,
        customer=customer,
        store=store,
        label=label,
        size=size,
        basket_type=basket_type,
        mission=lines.mission,
        basket_id=when.basket_id,
        ceiling_prediction=rule,  # Bayes-optimal: the noise is independent of the basket
        line_basket=line_basket,
        line_product=line_product,
        quantity=lines.quantity,
        spend_pence=lines.spend_pence,
    )
