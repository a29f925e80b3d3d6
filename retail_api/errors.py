"""Refusals as response bodies: short, located, and safe to encode whatever the request held.

A 422 never echoes the raw input: msgspec's messages name the field and the rule, and the only
request text they can quote (an enum value, an unknown field name) has been decoded from valid
JSON, so it is valid Unicode; it is still escaped and cut short here, so no answer can fail to
encode or balloon with what a client sent.
"""

from __future__ import annotations

import re

import msgspec

from retail_api.schemas import ErrorOut, ValidationErrorOut, ValidationIssue

MAX_MESSAGE_CHARS = 300
_LOCATED = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")

# Whole numbers are decoded as floats that are multiples of 1 (see schemas): say it in JSON's words.
_WORDING = (("Expected `float` that's a multiple of 1.0", "Expected a whole number"), ("Expected `float`", "Expected a number"))

_encode = msgspec.json.Encoder().encode


def error_body(detail: str) -> bytes:
    return _encode(ErrorOut(detail=_safe(detail)))


def validation_error_body(error: Exception) -> bytes:
    """The 422 body for a body that is not JSON, or JSON that breaks the contract."""
    if isinstance(error, UnicodeDecodeError):
        issue = ValidationIssue(["body"], "the body is not UTF-8 encoded JSON", "json_invalid")
    elif isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        issue = ValidationIssue(["body"], f"the body is not valid JSON: {_safe(str(error))}", "json_invalid")
    else:
        message, location = _locate(str(error))
        issue = ValidationIssue(["body", *location], message, "validation_error")
    return _encode(ValidationErrorOut(detail=[issue]))


def _locate(text: str) -> tuple[str, list[str | int]]:
    """msgspec's "<rule> - at `$.lines[0].spend`" as ("<rule>", ["lines", 0, "spend"])."""
    for msgspec_words, ours in _WORDING:
        text = text.replace(msgspec_words, ours)
    match = _LOCATED.match(text)
    if match is None:
        return _safe(text), []
    location: list[str | int] = []
    for name, index in _PATH_PART.findall(match["path"]):
        location.append(name if name else int(index))
    return _safe(match["message"]), location


def _safe(text: str) -> str:
    """Escape anything UTF-8 cannot carry and cap the length."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
