"""The default profile: a noisy label the products carry most of, with a known ceiling (about 0.93).

For every basket, in order (docs/sample_data.md has the long version and the figures):

1. shopper and store (world.draw_shoppers);
2. label: for a known customer with segment s, ``s`` with probability ``AGREEMENT`` and otherwise
   a draw from the prior (MM 51%, UM 24%, LA 23%, XX 2%); anonymous baskets draw from the prior;
3. BASKET_SIZE from P(size | store format, label) (a mild label tilt), BASKET_TYPE from
   P(type | size) (an XX label makes an XX type likelier), day and hour (world.schedule);
4. products, the signal: Poisson(r) draws, r fixed by (size, type), each from the *label's* own
   product distribution with probability ``world.MIX`` and otherwise by popularity;
5. quantity, spend and mission (world.price_lines).

The Bayes ceiling: draws are Poisson, so product x is present independently with probability
``1 - exp(-r q_l(x))`` where ``q_l`` is label l's mixture; the all-absent terms and the "at least
one line" conditioning cancel between labels. Quantity, spend, mission, time and store are
independent of the label given the products, the size and the type, so for every basket

    P(l | basket) ∝ P(l | customer segment or anonymous) P(size | format, l) P(type | size, l)
                    Π_{x in basket} (1 - exp(-r q_l(x))) exp(r q_l(x))

and its argmax over LA/MM/UM is the Bayes-optimal prediction no model can beat except by chance.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from retail_assets.sample_data.world import (
    DRAW_RATE,
    LABEL_PRIOR,
    LABELS,
    MIX,
    SIZE_BY_FORMAT,
    TRAINABLE,
    TYPE_BY_SIZE,
    TYPE_XX,
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

AGREEMENT = 0.25  # P(basket label := customer segment); otherwise drawn from the prior
# The label's multiplicative tilt on P(size | store format): LA a little larger, UM a little smaller.
SIZE_TILT = np.array([[0.90, 1.00, 1.25], [1.0, 1.0, 1.0], [1.10, 1.00, 0.80], [1.0, 1.0, 1.0]])
P_XX_TYPE_GIVEN_XX_LABEL = 0.35


def size_probabilities() -> np.ndarray:
    """P(size | label, store format) as an array (label, format, size)."""
    table = SIZE_TILT[:, None, :] * SIZE_BY_FORMAT[None, :, :]
    return table / table.sum(axis=2, keepdims=True)


def type_probabilities() -> np.ndarray:
    """P(type | label, size) as an array (label, size, type)."""
    table = np.broadcast_to(TYPE_BY_SIZE, (len(LABELS), *TYPE_BY_SIZE.shape)).copy()
    xx = table[XX] * (1.0 - P_XX_TYPE_GIVEN_XX_LABEL) / (1.0 - table[XX][:, [TYPE_XX]])
    xx[:, TYPE_XX] = P_XX_TYPE_GIVEN_XX_LABEL
    table[XX] = xx
    return table / table.sum(axis=2, keepdims=True)


def generate_week(world: World, seed: int, monday: date, n: int) -> Week:
    iso = monday.isocalendar()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1, iso.year, iso.week]))

    shoppers = draw_shoppers(world, rng, n)
    known = shoppers.segment >= 0
    label = draw(cumulative(LABEL_PRIOR), rng.random(n))
    agree = known & (rng.random(n) < AGREEMENT)
    label = np.where(agree, shoppers.segment, label)

    fmt = world.store_format[shoppers.store]
    size_p, type_p = size_probabilities(), type_probabilities()
    size = draw_rows(cumulative(size_p[label, fmt]), rng.random(n))
    basket_type = draw_rows(cumulative(type_p[label, size]), rng.random(n))
    when = schedule(rng, monday, basket_type)
    customer, store, segment, label, fmt, size, basket_type = (
        a[when.order] for a in (shoppers.customer, shoppers.store, shoppers.segment, label, fmt, size, basket_type)
    )

    rate = DRAW_RATE[size, basket_type]
    line_basket, line_product = draw_products(world, rng, rate, label, MIX)
    lines = price_lines(world, rng, line_basket, line_product, basket_type)

    # The exact posterior over labels and its argmax over the trainable ones.
    log_post = log_prior(segment) + np.log(size_p[:, fmt, size].T) + np.log(type_p[:, size, basket_type].T)
    v = rate[line_basket][:, None] * world.q[:, line_product].T  # (lines, labels)
    term = np.log(-np.expm1(-v)) + v
    for label_index in range(len(LABELS)):
        log_post[:, label_index] += np.bincount(line_basket, weights=term[:, label_index], minlength=n)
    prediction = TRAINABLE[np.argmax(log_post[:, TRAINABLE], axis=1)]

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
        ceiling_prediction=prediction,
        line_basket=line_basket,
        line_product=line_product,
        quantity=lines.quantity,
        spend_pence=lines.spend_pence,
    )


def log_prior(segment: np.ndarray) -> np.ndarray:
    """log P(label | customer segment), segment -1 = anonymous; shape (baskets, labels)."""
    prior = np.tile(LABEL_PRIOR, (segment.size, 1))
    known = segment >= 0
    prior[known] *= 1.0 - AGREEMENT
    prior[np.flatnonzero(known), segment[known]] += AGREEMENT
    return np.log(prior)
