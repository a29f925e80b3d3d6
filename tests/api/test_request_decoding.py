"""The endpoints decode a body without the per-struct blank-code checks when the body cannot hold a
blank code (retail_api.decoding): the decoded request, and every refusal, must be exactly what the
checking structs give."""

from __future__ import annotations

import itertools
import json
import re
import string

import msgspec
import pytest

from retail_api import schemas
from retail_api.decoding import STORE_REGIONS, RequestDecoder
from retail_api.schemas import BasketIn, BatchIn
from retail_model.domains import STORE_REGION_PATTERN
from tests.api.test_log_shipper_decoding import BASKETS

_BLANK_SPELLINGS = {
    "a space": '" "',
    "spaces and a tab escape": '"  \\t "',
    "a tab escape": '"\\t"',
    "a form feed escape": '"\\f"',
    "line break escapes": '"\\r\\n"',
    "a vertical tab as \\u000b": '"\\u000b"',
    "a form feed as \\u000C": '"\\u000C"',
    "a space as \\u0020": '"\\u0020"',
}
_PLACES = {
    "prod_code": lambda code: BASKETS["minimal, anonymous"] | {"lines": [{"prod_code": code, "quantity": 1, "spend": 1.0}]},
    "prod_code_20": lambda code: BASKETS["minimal, anonymous"] | {"lines": [{"prod_code": "P1", "prod_code_20": code, "quantity": 1, "spend": 1.0}]},
    "basket_id": lambda code: BASKETS["minimal, anonymous"] | {"basket_id": code},
    "store_code": lambda code: BASKETS["minimal, anonymous"] | {"store_code": code},
    "customer code": lambda code: BASKETS["minimal, anonymous"] | {"customer": {"code": code}},
}  # fmt: skip
_MARK = "BLANK-CODE-MARK"


def _body(place: str, spelling: str) -> bytes:
    return json.dumps(_PLACES[place](_MARK)).replace(f'"{_MARK}"', _BLANK_SPELLINGS[spelling]).encode()


def _refusal(decode, body: bytes) -> str:
    with pytest.raises(msgspec.ValidationError) as refused:
        decode(body)
    return str(refused.value)


@pytest.mark.parametrize("spelling", _BLANK_SPELLINGS)
@pytest.mark.parametrize("place", _PLACES)
def test_a_blank_code_in_any_spelling_is_refused_as_by_the_checking_structs(place, spelling):
    body = _body(place, spelling)
    expected = _refusal(msgspec.json.Decoder(BasketIn).decode, body)
    assert "is blank" in expected
    assert _refusal(RequestDecoder(BasketIn).decode, body) == expected
    batch = b'{"baskets": [' + json.dumps(BASKETS["minimal, anonymous"]).encode() + b", " + body + b"]}"
    assert _refusal(RequestDecoder(BatchIn).decode, batch) == _refusal(msgspec.json.Decoder(BatchIn).decode, batch)


@pytest.mark.parametrize(
    ("layout", "path"),
    [({}, "BasketInFast"), ({"indent": 2}, "BasketInFast"), ({"separators": (" , ", " : ")}, "BasketIn")],
    ids=["compact", "pretty-printed", "a space after each string"],
)
def test_valid_bodies_decode_to_the_same_request(layout, path):
    """Bodies with no quote before a space or a backslash take the fast path, others the checking one."""
    body = json.dumps({"baskets": list(BASKETS.values()), "explain": 1}, **layout).encode()
    fast, checked = RequestDecoder(BatchIn).decode(body), msgspec.json.Decoder(BatchIn).decode(body)
    assert msgspec.to_builtins(fast) == msgspec.to_builtins(checked)
    assert {type(basket).__name__ for basket in fast.baskets} == {path}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b | {"store_region": "e02"},  # pattern
        lambda b: b | {"store_format": "XXL"},  # allowed values
        lambda b: b | {"shop_hour": 24},  # range
        lambda b: b | {"lines": []},  # length
        lambda b: b | {"lines": [{"prod_code": "P1", "quantity": 1.5, "spend": 1.0}]},  # whole number
        lambda b: b | {"surprise": 1},  # unknown field
        lambda b: b | {"customer": {"code": "C1", "lifestage": "ZZ"}},
    ],
)
def test_every_other_check_still_runs_on_the_fast_path(mutate):
    body = json.dumps(mutate(BASKETS["minimal, anonymous"])).encode()
    assert b'" ' not in body and b'"\\' not in body  # a body the fast path takes
    assert _refusal(RequestDecoder(BasketIn).decode, body) == _refusal(msgspec.json.Decoder(BasketIn).decode, body)


def test_only_the_blank_code_checks_are_skipped():
    """A tripwire: the fast path skips `__post_init__`, which today only refuses blank codes. A new
    check in a request struct's `__post_init__` must be made a constraint, or this module changed."""
    with_post_init = {name for name, value in vars(schemas).items()
                      if isinstance(value, type) and issubclass(value, msgspec.Struct) and "__post_init__" in vars(value)}  # fmt: skip
    assert with_post_init == {"BasketLineIn", "CustomerIn", "BasketIn"}


def test_the_store_regions_are_exactly_what_the_pattern_accepts():
    """The fast path checks a region by membership instead of the pattern: the two must agree on
    every string the pattern could accept (ASCII only: its classes hold only ASCII characters;
    at most 3 characters: max_length)."""
    pattern = re.compile(STORE_REGION_PATTERN)
    alphabet = string.printable
    accepted = {"".join(chars) for size in (1, 2, 3) for chars in itertools.product(alphabet, repeat=size) if pattern.search("".join(chars))}
    assert accepted == set(STORE_REGIONS)


@pytest.mark.parametrize("region", ["E02", "Z99", "A00"])
def test_a_valid_region_takes_the_fast_path(region):
    body = json.dumps({"baskets": [BASKETS["minimal, anonymous"] | {"store_region": region}]}).encode()
    assert type(RequestDecoder(BatchIn).decode(body).baskets[0]).__name__ == "BasketInFast"


@pytest.mark.parametrize("region", ["e02", "E2", "E020", "É02", "E0٢", "E02\n"])
def test_an_invalid_region_gets_the_pattern_refusal(region):
    body = json.dumps(BASKETS["minimal, anonymous"] | {"store_region": region}).encode()
    expected = _refusal(msgspec.json.Decoder(BasketIn).decode, body)
    assert "store_region" in expected
    assert _refusal(RequestDecoder(BasketIn).decode, body) == expected
