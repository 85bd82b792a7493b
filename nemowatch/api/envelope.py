"""Reading answers: the JSON envelope, HTTP statuses, and httpx's exceptions.

Failure arrives two ways (a non-zero `code` in an HTTP 200 body, or an HTTP
error status with or without a JSON body); both become an exception of the
tree in `nemowatch.errors`, here and nowhere else.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from nemowatch.errors import AnswerTooLargeError, TransportError, error_for_code

#: the largest JSON answer read: the API's answers are a few KB (a long timeline
#: some hundred); anything past this is refused before it fills the memory
MAX_ANSWER_BYTES = 16 * 1024 * 1024


@contextmanager
def translated(endpoint: str) -> Iterator[None]:
    """Turn httpx's transport exceptions into TransportError, once, for every call."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransportError(f"{endpoint}: timed out ({type(exc).__name__})") from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise TransportError(
            f"{endpoint}: connection failed ({type(exc).__name__}: {exc})"
        ) from exc


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Parse Retry-After: delta seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def read_answer(
    response: httpx.Response, endpoint: str, limit: int = MAX_ANSWER_BYTES
) -> bytes:
    """The body of a streamed answer, counted as it comes (after any decompression).

    Raises:
        AnswerTooLargeError: it announces or brings more than `limit` bytes; the
            rest is not read (the caller's `stream()` block closes the connection).
    """
    declared = response.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    chunks, size = [], 0
    if not too_large:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                too_large = True
                break
            chunks.append(chunk)
    if too_large:
        raise AnswerTooLargeError(
            f"{endpoint}: the answer is over {limit // 2**20} MB (a JSON answer is a few KB); "
            "refused without reading it"
        )
    return b"".join(chunks)


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def check(response: httpx.Response, endpoint: str, content: bytes | None = None) -> dict[str, Any]:
    """The body of a successful answer; raise the matching ApiError otherwise.

    `content` is the body as `read_answer` read it; without it the response
    must have been read. Returns the whole JSON body (not only `data`), since
    some answers (render status) put fields at the top level.
    """
    body = _json_or_none(response.content if content is None else content)
    message = ""
    code = None
    if isinstance(body, dict):
        code = _code(body.get("code"))
        message = str(body.get("message") or body.get("msg") or "")
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    if response.status_code >= 400:
        # An HTTP error status; an envelope code in its body is more precise.
        code = code if code not in (None, 0) else response.status_code
        raise error_for_code(
            code,
            message or response.reason_phrase or f"HTTP {response.status_code}",
            http_status=response.status_code,
            endpoint=endpoint,
            retry_after=retry_after,
        )
    if not isinstance(body, dict):
        raise TransportError(
            f"{endpoint}: the answer was not JSON (HTTP {response.status_code}, "
            f"{response.headers.get('content-type', 'no content type')})"
        )
    if code not in (None, 0):
        raise error_for_code(
            code,
            message or "no message",
            http_status=response.status_code,
            endpoint=endpoint,
            retry_after=retry_after,
        )
    return body


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    """`data` of an envelope, or an empty dict when it is absent or not an object."""
    data = body.get("data")
    return data if isinstance(data, dict) else {}
