"""Decoding prediction requests from their body bytes: the endpoints' decoder and the shipper's.

No code in a request may be blank (made only of whitespace). The request structs check that in
`__post_init__`, one Python call per struct: for a 500-basket batch, ~10,000 calls and about a
tenth of the request's CPU. But a blank code has a shape in the body: JSON forbids raw control
characters inside a string and `""` is refused by `min_length`, so a non-empty blank string
starts with a quote followed by a space or by a backslash (an escape: `\\t`, `\\u0020`, ...).
A body holding neither `" ` nor `"\\` cannot hold a blank code, and `RequestDecoder` decodes it
with twins of the request structs that keep every other check (types, ranges, lengths, allowed
values) and skip `__post_init__`. The twins also check a store region against the 2,600 codes
its pattern allows (a C lookup) rather than by the pattern (Python's `re`, once per basket: a
quarter of decoding a basket). Any other body (one with a string value that starts with a space
or an escape, or a space after a closing quote), and any body the twins refuse, is decoded by
the checking structs, so every refusal is the one the checking structs give.

The shipper (retail_api.log_shipper) decodes bodies the endpoint already accepted, so its twins
drop every check (`unchecked`).
"""

from __future__ import annotations

import string
import types
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, get_args, get_origin

import msgspec

from retail_model.domains import STORE_REGION_PATTERN

Request = TypeVar("Request", bound=msgspec.Struct)
_MAY_HOLD_A_BLANK_STRING = (b'" ', b'"\\')
# Every string STORE_REGION_PATTERN (^[A-Z][0-9]{2}$, at most 3 characters) accepts, as allowed values.
STORE_REGIONS = tuple(f"{letter}{number:02d}" for letter in string.ascii_uppercase for number in range(100))
_AS_ALLOWED_VALUES = {STORE_REGION_PATTERN: Literal[STORE_REGIONS]}


class RequestDecoder(Generic[Request]):
    """`decode(body)`: the request, as the checking struct would decode it, or msgspec.ValidationError."""

    def __init__(self, struct: type[Request]) -> None:
        self._checking = msgspec.json.Decoder(struct).decode
        self._fast = msgspec.json.Decoder(_twin(struct, keep_checks=True, made={})).decode

    def decode(self, body: bytes) -> Request:
        if _MAY_HOLD_A_BLANK_STRING[0] in body or _MAY_HOLD_A_BLANK_STRING[1] in body:
            return self._checking(body)
        try:
            return self._fast(body)  # the same fields and attributes, read the same way by the endpoint
        except msgspec.ValidationError:
            return self._checking(body)  # raises: the checking structs' refusal, word for word


def unchecked(struct: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """A twin of a request struct with the same fields and defaults and no checks at all."""
    return _twin(struct, keep_checks=False, made={})


def _twin(struct: type[msgspec.Struct], keep_checks: bool, made: dict[type, type]) -> type[msgspec.Struct]:
    if struct not in made:
        fields = [
            (field.name, _field_type(field.type, keep_checks, made))
            + (() if field.required else (field.default,))
            for field in msgspec.structs.fields(struct)
        ]  # fmt: skip
        config = struct.__struct_config__
        made[struct] = msgspec.defstruct(
            f"{struct.__name__}{'Fast' if keep_checks else 'Unchecked'}", fields, gc=False,
            forbid_unknown_fields=config.forbid_unknown_fields and keep_checks, omit_defaults=config.omit_defaults,
        )  # fmt: skip
    return made[struct]


def _field_type(annotation: Any, keep_checks: bool, made: dict[type, type]) -> Any:
    """The annotation with every request struct in it replaced by its twin (and, without checks,
    constraints dropped and allowed values widened to their type)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner = _field_type(get_args(annotation)[0], keep_checks, made)
        if not keep_checks:
            return inner
        patterns = [meta.pattern for meta in annotation.__metadata__ if isinstance(meta, msgspec.Meta) and meta.pattern]
        if patterns and patterns[0] in _AS_ALLOWED_VALUES:
            return _AS_ALLOWED_VALUES[patterns[0]]
        return Annotated[(inner, *annotation.__metadata__)]
    if origin is Literal and not keep_checks:
        return type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return Union[tuple(_field_type(argument, keep_checks, made) for argument in get_args(annotation))]
    if origin is list:
        return list[_field_type(get_args(annotation)[0], keep_checks, made)]  # type: ignore[misc]
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return _twin(annotation, keep_checks, made)
    return annotation
