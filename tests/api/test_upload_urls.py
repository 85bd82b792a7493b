"""Upload by URL: the JSON body, the error codes, and retries (a JSON body can be resent)."""

from __future__ import annotations

import httpx
import pytest
import respx
from apifakes import ANON_TOKEN, FakeClock, bodies, envelope, failure, ok

from nemowatch.api import NemoClient
from nemowatch.errors import ApiCodeError, ServerError, UnsupportedFileError

UPLOAD = "/api/upload-video/nemo_agent/me/s1"
URLS = ["https://media.example.com/a.mp4", "http://127.0.0.1:8080/b%20c.mov"]
FILES = {"files": [{"media_id": "med_1", "name": "a.mp4"}]}


async def test_the_json_body_names_the_urls_and_nothing_else_is_sent(
    client: NemoClient, server: respx.MockRouter
) -> None:
    route = server.post(UPLOAD).mock(return_value=ok(FILES))
    result = await client.upload_urls("s1", URLS)
    assert bodies(route) == [{"urls": URLS, "source_type": "url"}]
    (call,) = route.calls
    assert call.request.headers["content-type"] == "application/json"
    assert call.request.headers["authorization"] == f"Bearer {ANON_TOKEN}"
    assert call.request.headers["x-skill-source"]  # the attribution every call carries
    assert result.bytes_sent == 0 and result.sha256 == {}
    assert result.data == FILES
    assert result.seconds >= 0


async def test_an_unsupported_type_raises_its_error_at_once(
    client: NemoClient, server: respx.MockRouter
) -> None:
    route = server.post(UPLOAD).mock(return_value=failure(4001, "unsupported file type: 'a.exe'"))
    with pytest.raises(UnsupportedFileError) as info:
        await client.upload_urls("s1", ["https://media.example.com/a.exe"])
    assert info.value.code == 4001 and info.value.endpoint == "upload"
    assert "a.exe" in info.value.api_message
    assert route.call_count == 1  # not transient: never sent again


async def test_an_address_the_service_cannot_fetch_is_not_retried(
    client: NemoClient, server: respx.MockRouter
) -> None:
    route = server.post(UPLOAD).mock(return_value=failure(4003, "could not fetch the URL"))
    with pytest.raises(ApiCodeError) as info:
        await client.upload_urls("s1", URLS[:1])
    assert info.value.code == 4003 and not info.value.transient
    assert route.call_count == 1


async def test_a_server_error_is_retried_with_the_same_body(
    client: NemoClient, server: respx.MockRouter, clock: FakeClock
) -> None:
    route = server.post(UPLOAD).mock(
        side_effect=[httpx.Response(503), httpx.Response(502), ok(FILES)]
    )
    result = await client.upload_urls("s1", URLS)
    assert route.call_count == 3
    assert bodies(route) == [{"urls": URLS, "source_type": "url"}] * 3
    assert len(clock.sleeps) == 2  # the retry policy waited between attempts
    assert result.data == FILES


async def test_a_dropped_connection_is_retried_too(
    client: NemoClient, server: respx.MockRouter
) -> None:
    route = server.post(UPLOAD).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.ReadError("cut"), ok(FILES)]
    )
    assert (await client.upload_urls("s1", URLS)).data == FILES
    assert route.call_count == 3


async def test_server_errors_past_the_retries_raise(
    client: NemoClient, server: respx.MockRouter
) -> None:
    route = server.post(UPLOAD).respond(500, json=envelope(code=500, message="boom"))
    with pytest.raises(ServerError):
        await client.upload_urls("s1", URLS)
    assert route.call_count == 3  # the first try and `retries=2`


async def test_an_expired_token_is_renewed_and_the_call_repeated(
    client: NemoClient, server: respx.MockRouter, anon: respx.Route
) -> None:
    route = server.post(UPLOAD).mock(side_effect=[failure(1001, "token expired"), ok(FILES)])
    assert (await client.upload_urls("s1", URLS)).data == FILES
    assert route.call_count == 2 and anon.call_count == 2
