"""The few raw-ASGI pieces the prediction endpoints need: read a body under a limit, send an answer."""

from __future__ import annotations

from starlette.types import Receive, Send

JSON_CONTENT_TYPE = (b"content-type", b"application/json")


class Refusal(Exception):
    """Answer the request with this status and body instead of scoring it."""

    def __init__(self, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers


class BodyTooLarge(Exception):
    pass


class ClientDisconnected(Exception):
    """The client went away before sending its whole body: there is nobody to answer."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body, refused as soon as it grows past `limit` bytes (never buffered beyond it)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    body = message.get("body", b"")
    if not message.get("more_body", False):  # the common case: one message holds it all
        if len(body) > limit:
            raise BodyTooLarge
        return body
    chunks, size = [body], len(body)
    while True:
        if size > limit:
            raise BodyTooLarge
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            if size > limit:
                raise BodyTooLarge
            return b"".join(chunks)


async def respond(send: Send, status: int, body: bytes, request_id: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                JSON_CONTENT_TYPE,
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def is_json(content_type: bytes) -> bool:
    """application/json, or any application/...+json, with or without parameters (charset)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
