"""A JSON answer over 16 MB is refused before it is read whole: announced by its
Content-Length, counted as it streams in, or inflated from a small gzip body."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import respx
from apifakes import CREDITS_PATH, envelope, ok

from nemowatch.api import NemoClient
from nemowatch.api.envelope import MAX_ANSWER_BYTES, read_answer
from nemowatch.errors import AnswerTooLargeError, ApiError

#: the `make_client` fixture of tests/api/conftest.py (not imported: several test folders
#: have a `conftest` module, and which one that name means depends on the order of import)
MakeClient = Callable[..., NemoClient]
MB = 2**20
CREDITS = {"available": 80, "frozen": 0, "total": 80}


async def test_an_announced_size_over_the_limit_is_refused_unread(
    client: NemoClient, server: respx.MockRouter
) -> None:
    route = server.get(CREDITS_PATH).mock(
        return_value=httpx.Response(
            200, headers={"content-length": str(MAX_ANSWER_BYTES + 1)}, content=b"{}"
        )
    )
    with pytest.raises(AnswerTooLargeError, match="credits: the answer is over 16 MB"):
        await client.credits()
    assert route.call_count == 1  # not a transient fault: not retried


async def test_a_stream_without_a_length_is_cut_off_at_the_limit(
    client: NemoClient, server: respx.MockRouter
) -> None:
    sent = []

    async def endless() -> AsyncIterator[bytes]:
        chunk = b" " * MB
        for _ in range(1000):  # a GB, if anyone read it all
            sent.append(len(chunk))
            yield chunk

    server.get(CREDITS_PATH).mock(return_value=httpx.Response(200, content=endless()))
    with pytest.raises(AnswerTooLargeError):
        await client.credits()
    assert sum(sent) <= MAX_ANSWER_BYTES + MB  # stopped right after the limit


async def test_a_small_gzip_body_that_inflates_past_the_limit_is_refused(
    client: NemoClient, server: respx.MockRouter
) -> None:
    bomb = gzip.compress(b" " * (MAX_ANSWER_BYTES + MB))
    assert len(bomb) < MB
    server.get(CREDITS_PATH).mock(
        return_value=httpx.Response(200, headers={"content-encoding": "gzip"}, content=bomb)
    )
    with pytest.raises(AnswerTooLargeError):
        await client.credits()


async def test_an_answer_under_the_limit_is_read_as_ever(
    make_client: MakeClient, server: respx.MockRouter
) -> None:
    padding = "x" * (2 * MB)  # large for an answer, far under the limit
    server.get(CREDITS_PATH).mock(return_value=ok({**CREDITS, "note": padding}))
    credits = await make_client().credits()
    assert credits.available == 80


async def test_an_error_answer_still_reads_its_code(
    client: NemoClient, server: respx.MockRouter
) -> None:
    server.get(CREDITS_PATH).mock(
        return_value=httpx.Response(403, json=envelope(code=403, message="no scope"))
    )
    with pytest.raises(ApiError, match="no scope"):
        await client.credits()


async def test_read_answer_counts_to_the_limit_it_is_given() -> None:
    exact = httpx.Response(200, content=b"x" * 10)
    assert await read_answer(exact, "test", limit=10) == b"x" * 10
    over = httpx.Response(200, content=b"x" * 11)
    with pytest.raises(AnswerTooLargeError, match="test: "):
        await read_answer(over, "test", limit=10)


def test_a_job_failed_by_an_oversized_answer_says_so_in_plain_words() -> None:
    from nemowatch.errors import AnswerTooLargeError
    from nemowatch.jobs.policy import explain

    sentence, advice = explain(AnswerTooLargeError("state: an answer of 20 MB"))
    assert "over 16 MB" in sentence and "unexpectedly" not in sentence
    assert "retry NAME" in advice
