"""Baskets straight to a fitted vocabulary's columns, without a feature dict per basket.

The batch endpoint scores up to a thousand baskets a request. Building each basket's
`basket_features` dict (about 65 formatted names) and then looking every name up in the
vectorizer's vocabulary cost more than the scoring itself. `BasketColumns` is compiled once from
the vocabulary into lookups keyed by the raw codes (a product code -> the column of
`product=<code>`, a weekday number -> the column of `shop_weekday=<n>`), and turns a list of
baskets into the CSR parts that `FeatureSpace.gather` starts from for
`[basket_features(b) for b in baskets]`, bit for bit:

- each row holds the columns the vocabulary knows, in the dict's insertion order: the basket's
  attributes, the customer, each line's product, product_10 and product_20 (a name met again on a
  later line keeps its first place, as a dict key does), then the four log measures;
- names the vocabulary never saw are left out, as the vectorizer leaves them out;
- the values are basket_features' float64 values: 1.0 for indicators, and the log measures from
  the very operations basket_features runs (spend and quantity summed line by line by `sum`, the
  same `max` guards, `/` and `math.log1p`), called from C by `map`.

Codes are strings, as `Basket` and the API's `BasketIn` declare them. The per-basket work runs in
C (`map` over `attrgetter` and `dict.get` into `numpy.fromiter`, then numpy over the whole
batch): there is no Python step per basket or per line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from itertools import chain, compress, repeat
from math import log1p
from operator import attrgetter, is_not, truediv

import numpy as np

from retail_model.basket import Basket

# The attributes whose value is the name's suffix as it is, in basket_features' order.
_ATTRIBUTES = ("store_format", "store_region", "basket_size", "basket_type", "basket_dominant_mission")
_HOUR_BANDS = ("morning", "afternoon", "evening")  # shop_hour < 12, < 17, the rest
_LOG_MEASURES = ("log_lines", "log_quantity", "log_spend", "log_spend_per_item")
_LINES, _CUSTOMER, _DATE, _HOUR = attrgetter("lines"), attrgetter("customer"), attrgetter("shop_date"), attrgetter("shop_hour")
_CODE, _SENSITIVITY, _LIFESTAGE = attrgetter("code"), attrgetter("price_sensitivity"), attrgetter("lifestage")
_PRODUCT, _PRODUCT_10, _PRODUCT_20 = attrgetter("prod_code"), attrgetter("prod_code_10"), attrgetter("prod_code_20")
_QUANTITY, _SPEND = attrgetter("quantity"), attrgetter("spend")

Parts = tuple[np.ndarray, np.ndarray, np.ndarray]  # CSR indptr, column indices, float64 values


class BasketColumns:
    """`parts(baskets)`: the CSR parts of the baskets' `basket_features` rows over one vocabulary."""

    def __init__(self, vocabulary: Mapping[str, int]) -> None:
        by_prefix: dict[str, dict[str | None, int]] = {}
        for name, column in vocabulary.items():
            prefix, equals, suffix = name.partition("=")
            if equals:
                by_prefix.setdefault(prefix, {})[suffix] = column
        known = lambda prefix: by_prefix.get(prefix, {})  # noqa: E731
        self._attributes = [(attrgetter(name), known(name).get) for name in _ATTRIBUTES]
        weekdays, bands = known("shop_weekday"), known("shop_hour_band")
        # dunnhumby numbers the days 1 (Sunday) to 7: indexed by that number, 0 unused.
        self._weekday = np.array([weekdays.get(str(day), -1) for day in range(8)], dtype=np.intp)
        self._band = np.array([bands.get(band, -1) for band in _HOUR_BANDS], dtype=np.intp)
        self._anonymous = known("customer").get("anonymous", -1)
        # `price_sensitivity or 'XX'`: None and "" are the XX segment.
        self._sensitivity = {**known("customer_price_sensitivity")}
        self._lifestage = {**known("customer_lifestage")}
        for segments in (self._sensitivity, self._lifestage):
            segments[None] = segments[""] = segments.get("XX", -1)
        self._product = known("product").get  # every line names its product, even an empty code
        # product_10 and product_20 are left out when empty (None or ""): no key for either.
        self._product_10 = {code: column for code, column in known("product_10").items() if code}.get
        self._product_20 = {code: column for code, column in known("product_20").items() if code}.get
        self._logs = np.array([vocabulary.get(name, -1) for name in _LOG_MEASURES], dtype=np.intp)
        self._n_columns = max(vocabulary.values(), default=-1) + 1

    def parts(self, baskets: Sequence[Basket]) -> Parts:
        """(indptr, columns, values) of the known features, each row in basket_features' order."""
        n = len(baskets)
        head = self._head(baskets)  # (n, 9): 7 attributes, then the customer's one or two
        lines = list(map(_LINES, baskets))
        per_basket = np.fromiter(map(len, lines), dtype=np.intp, count=n)
        flat = list(chain.from_iterable(lines))
        entries, entry_rows = self._products(flat, per_basket)
        tail, tail_values = np.broadcast_to(self._logs, (n, 4)), self._logs_of(lines, per_basket)

        # Every row: its known head columns, its products, its known log measures, in that order.
        head_known, tail_known = head >= 0, tail >= 0
        n_head, n_tail = head_known.sum(axis=1), tail_known.sum(axis=1)
        n_products = np.bincount(entry_rows, minlength=n)
        indptr = np.zeros(n + 1, dtype=np.intp)
        np.cumsum(n_head + n_products + n_tail, out=indptr[1:])
        columns = np.empty(int(indptr[-1]), dtype=np.intp)
        values = np.ones(len(columns), dtype=np.float64)
        starts = indptr[:-1]
        columns[(starts[:, np.newaxis] + np.cumsum(head_known, axis=1) - 1)[head_known]] = head[head_known]
        products_start = starts + n_head
        first_of_row = np.cumsum(n_products) - n_products
        rank = np.arange(len(entries)) - first_of_row[entry_rows]
        columns[products_start[entry_rows] + rank] = entries
        at_tail = ((products_start + n_products)[:, np.newaxis] + np.cumsum(tail_known, axis=1) - 1)[tail_known]
        columns[at_tail] = tail[tail_known]
        values[at_tail] = tail_values[tail_known]
        return indptr, columns, values

    def _head(self, baskets: Sequence[Basket]) -> np.ndarray:
        n = len(baskets)
        head = np.full((n, 9), -1, dtype=np.intp)
        for position, (attribute, column_of) in enumerate(self._attributes):
            head[:, position] = np.fromiter(map(column_of, map(attribute, baskets), repeat(-1)), dtype=np.intp, count=n)
        weekdays = np.fromiter(map(date.isoweekday, map(_DATE, baskets)), dtype=np.intp, count=n)
        head[:, 5] = self._weekday[weekdays % 7 + 1]
        hours = np.fromiter(map(_HOUR, baskets), dtype=np.float64, count=n)
        # 2 - (h < 17) - (h < 12), not a sum of `>=`: a NaN hour is "evening", as in basket_features.
        head[:, 6] = self._band[2 - (hours < 17) - (hours < 12)]
        # `customer is None or not customer.code` is anonymous; the others carry both segments.
        customers = list(map(_CUSTOMER, baskets))
        present = np.fromiter(map(is_not, customers, repeat(None)), dtype=bool, count=n)
        named = np.zeros(n, dtype=bool)
        named[present] = np.fromiter(map(bool, map(_CODE, compress(customers, present.tolist()))), dtype=bool, count=int(present.sum()))
        head[:, 7] = self._anonymous
        count = int(named.sum())
        shoppers = list(compress(customers, named.tolist()))
        head[named, 7] = np.fromiter(map(self._sensitivity.get, map(_SENSITIVITY, shoppers), repeat(-1)), dtype=np.intp, count=count)
        head[named, 8] = np.fromiter(map(self._lifestage.get, map(_LIFESTAGE, shoppers), repeat(-1)), dtype=np.intp, count=count)
        return head

    def _products(self, flat: list, per_basket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each line's known product, product_10 and product_20 columns in line order, and their rows; repeats dropped."""
        count = len(flat)
        entries = np.empty((count, 3), dtype=np.intp)
        for level, (code_of, column_of) in enumerate(
            ((_PRODUCT, self._product), (_PRODUCT_10, self._product_10), (_PRODUCT_20, self._product_20))
        ):
            entries[:, level] = np.fromiter(map(column_of, map(code_of, flat), repeat(-1)), dtype=np.intp, count=count)
        entries = entries.ravel()
        rows = np.repeat(np.arange(len(per_basket)), per_basket * 3)
        known = entries >= 0
        entries, rows = entries[known], rows[known]
        # A column met again in the same basket keeps its first place (a dict key's). Sorted by
        # (row, column, position), the first of each (row, column) run is that first place.
        size = len(entries)
        shift = max(size, 1).bit_length()
        if (len(per_basket) * self._n_columns) << shift >= 1 << 63:  # too many for one int64 key (never at the API's limits)
            order = np.lexsort((np.arange(size), entries, rows))
            first = np.ones(size, dtype=bool)
            first[1:] = (rows[order][1:] != rows[order][:-1]) | (entries[order][1:] != entries[order][:-1])
            keep = np.zeros(size, dtype=bool)
            keep[order[first]] = True
            return entries[keep], rows[keep]
        key = (rows * self._n_columns + entries) << shift | np.arange(size)
        key.sort()
        pair = key >> shift
        first = np.ones(size, dtype=bool)
        np.not_equal(pair[1:], pair[:-1], out=first[1:])
        keep = np.zeros(size, dtype=bool)
        keep[key[first] & ((1 << shift) - 1)] = True
        return entries[keep], rows[keep]

    @staticmethod
    def _logs_of(lines: list, per_basket: np.ndarray) -> np.ndarray:
        """The four log measures, (n, 4), by basket_features' own Python operations, run from C by `map`.

        `sum(..., 0.0)` adds the spends one by one from 0.0 as the loop does (and quantities from
        the int 0); `max`, `/` and `math.log1p` are the very functions basket_features calls, so
        every guard, rounding and NaN comes out the same.
        """
        n = len(lines)
        spend = list(map(max, map(sum, map(map, repeat(_SPEND), lines), repeat(0.0)), repeat(0.0)))
        quantity = list(map(sum, map(map, repeat(_QUANTITY), lines), repeat(0)))
        values = np.empty((n, 4), dtype=np.float64)
        values[:, 0] = np.fromiter(map(log1p, per_basket.tolist()), dtype=np.float64, count=n)
        values[:, 1] = np.fromiter(map(log1p, map(max, quantity, repeat(0))), dtype=np.float64, count=n)
        values[:, 2] = np.fromiter(map(log1p, spend), dtype=np.float64, count=n)
        values[:, 3] = np.fromiter(map(log1p, map(truediv, spend, map(max, quantity, repeat(1)))), dtype=np.float64, count=n)
        return values
