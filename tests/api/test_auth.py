"""Identity: the client id, the anonymous token, its 0600 cache, renewal, headers."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
import uuid
from pathlib import Path

import httpx
import pytest
import respx
from apifakes import ANON_TOKEN, BASE, CREDITS_PATH, FakeClock, envelope, ok
from pydantic import SecretStr

from nemowatch.api import NemoClient
from nemowatch.config import ApiSettings, ExportSettings
from nemowatch.errors import (
    ClientIdError,
    RateLimitedError,
    ServerError,
    TokenError,
    TokenQuotaError,
    TokenRejectedError,
)

CREDITS = {"available": 100, "frozen": 0, "total": 100}
WEEK = 7 * 86400


def client_ids(route: respx.Route) -> list[str]:
    return [call.request.headers["X-Client-Id"] for call in route.calls]


def bearers(route: respx.Route) -> list[str | None]:
    return [call.request.headers.get("Authorization") for call in route.calls]


def write_cache(path: Path, token: str, client_id: str, *, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"token": token, "client_id": client_id, "expires_at": time.time() + WEEK}
    path.write_text(json.dumps({BASE: entry}))
    path.chmod(mode)


@pytest.fixture
def known_id(client_id_file: Path) -> str:
    value = str(uuid.uuid4())
    client_id_file.parent.mkdir(parents=True)
    client_id_file.write_text(value + "\n")
    return value


@pytest.fixture
def credits_route(server: respx.MockRouter) -> respx.Route:
    return server.get(CREDITS_PATH).mock(return_value=ok(CREDITS))


async def test_anonymous_token_is_requested_with_the_client_id_from_the_file(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route, known_id: str
) -> None:
    await client.credits()
    assert client_ids(anon) == [known_id]
    assert anon.calls.last.request.content == b""
    assert bearers(credits_route) == [f"Bearer {ANON_TOKEN}"]


async def test_missing_client_id_file_is_created_with_a_uuid(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route, client_id_file: Path
) -> None:
    assert not client_id_file.exists()
    await client.credits()
    created = client_id_file.read_text().strip()
    assert str(uuid.UUID(created)) == created
    assert client_ids(anon) == [created]


async def test_garbage_in_the_client_id_file_is_replaced_by_a_uuid(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route, client_id_file: Path
) -> None:
    client_id_file.parent.mkdir(parents=True)
    client_id_file.write_text("not-a-uuid\n")
    await client.credits()
    created = client_id_file.read_text().strip()
    assert created != "not-a-uuid"
    assert client_ids(anon) == [str(uuid.UUID(created))]


async def test_configured_client_id_wins_over_the_file(
    make_client, anon: respx.Route, credits_route: respx.Route, known_id: str, client_id_file: Path
) -> None:
    configured = str(uuid.uuid4())
    await make_client(api={"client_id": configured}).credits()
    assert client_ids(anon) == [configured]
    assert client_id_file.read_text().strip() == known_id


async def test_anonymous_token_is_cached_with_mode_0600_and_its_expiry(
    client: NemoClient,
    anon: respx.Route,
    credits_route: respx.Route,
    state_dir: Path,
    known_id: str,
) -> None:
    anon.mock(return_value=ok({"token": ANON_TOKEN, "credits": 100, "expires_in": 3600 * 48}))
    before = time.time()
    await client.credits()
    path = state_dir / "token.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = json.loads(path.read_text())[BASE]
    assert entry["token"] == ANON_TOKEN
    assert entry["client_id"] == known_id
    assert before + 3600 * 48 <= entry["expires_at"] <= time.time() + 3600 * 48


async def test_token_expiry_defaults_to_seven_days(
    client: NemoClient, credits_route: respx.Route, state_dir: Path
) -> None:
    before = time.time()
    await client.credits()
    entry = json.loads((state_dir / "token.json").read_text())[BASE]
    assert before + WEEK <= entry["expires_at"] <= time.time() + WEEK


async def test_cached_token_is_reused_by_a_second_client(
    make_client, anon: respx.Route, credits_route: respx.Route
) -> None:
    await make_client().credits()
    await make_client().credits()
    assert anon.call_count == 1
    assert bearers(credits_route) == [f"Bearer {ANON_TOKEN}"] * 2


async def test_token_cache_readable_by_others_is_ignored(
    client: NemoClient,
    anon: respx.Route,
    credits_route: respx.Route,
    state_dir: Path,
    known_id: str,
) -> None:
    write_cache(state_dir / "token.json", "nmv_usr_leakedcache", known_id, mode=0o644)
    await client.credits()
    assert anon.call_count == 1
    assert bearers(credits_route) == [f"Bearer {ANON_TOKEN}"]
    assert stat.S_IMODE((state_dir / "token.json").stat().st_mode) == 0o600


async def test_private_token_cache_is_used_without_an_anonymous_token_call(
    client: NemoClient,
    anon: respx.Route,
    credits_route: respx.Route,
    state_dir: Path,
    known_id: str,
) -> None:
    write_cache(state_dir / "token.json", "nmv_usr_goodcache", known_id)
    await client.credits()
    assert anon.call_count == 0
    assert bearers(credits_route) == ["Bearer nmv_usr_goodcache"]


async def test_cached_token_of_another_client_id_is_not_used(
    client: NemoClient,
    anon: respx.Route,
    credits_route: respx.Route,
    state_dir: Path,
    known_id: str,
) -> None:
    write_cache(state_dir / "token.json", "nmv_usr_otherid", str(uuid.uuid4()))
    await client.credits()
    assert anon.call_count == 1
    assert bearers(credits_route) == [f"Bearer {ANON_TOKEN}"]


async def test_concurrent_calls_share_one_anonymous_token_call(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route
) -> None:
    await asyncio.gather(*(client.credits() for _ in range(5)))
    assert anon.call_count == 1
    assert credits_route.call_count == 5


async def test_token_error_renews_once_with_the_same_client_id_and_repeats_once(
    client: NemoClient,
    server: respx.MockRouter,
    anon: respx.Route,
    known_id: str,
    state_dir: Path,
) -> None:
    anon.mock(side_effect=[ok({"token": "nmv_usr_first0001"}), ok({"token": "nmv_usr_second002"})])
    route = server.get(CREDITS_PATH).mock(
        side_effect=[httpx.Response(200, json=envelope(code=1001)), ok(CREDITS)]
    )
    credits = await client.credits()
    assert credits.available == 100
    assert client_ids(anon) == [known_id, known_id]
    assert bearers(route) == ["Bearer nmv_usr_first0001", "Bearer nmv_usr_second002"]
    cached = json.loads((state_dir / "token.json").read_text())[BASE]
    assert cached["token"] == "nmv_usr_second002"


async def test_token_error_on_a_cached_token_costs_exactly_one_anonymous_call(
    client: NemoClient,
    server: respx.MockRouter,
    anon: respx.Route,
    known_id: str,
    state_dir: Path,
) -> None:
    write_cache(state_dir / "token.json", "nmv_usr_stalecache", known_id)
    route = server.get(CREDITS_PATH).mock(
        side_effect=[httpx.Response(401, json=envelope(code=1001)), ok(CREDITS)]
    )
    await client.credits()
    assert client_ids(anon) == [known_id]
    assert bearers(route) == ["Bearer nmv_usr_stalecache", f"Bearer {ANON_TOKEN}"]


async def test_second_token_error_in_a_row_raises(
    client: NemoClient, server: respx.MockRouter, anon: respx.Route
) -> None:
    route = server.get(CREDITS_PATH).mock(
        side_effect=[httpx.Response(200, json=envelope(code=1001))] * 3 + [ok(CREDITS)]
    )
    with pytest.raises(TokenError) as info:
        await client.credits()
    assert not isinstance(info.value, TokenRejectedError)
    assert route.call_count == 2
    assert anon.call_count == 2  # the first token, then exactly one renewal


async def test_user_token_rejected_raises_token_rejected_without_anonymous_call(
    make_client, server: respx.MockRouter, anon: respx.Route
) -> None:
    client = make_client(api={"token": SecretStr("nmv_usr_mine12345")})
    route = server.get(CREDITS_PATH).mock(
        side_effect=[httpx.Response(200, json=envelope(code=1001)), ok(CREDITS)]
    )
    with pytest.raises(TokenRejectedError) as info:
        await client.credits()
    assert info.value.account_wide is True
    assert info.value.code == 1001
    assert isinstance(info.value.__cause__, TokenError)
    assert anon.call_count == 0
    assert bearers(route) == ["Bearer nmv_usr_mine12345"]
    assert client.anonymous_client_id is None


async def test_user_token_never_touches_the_client_id_or_the_cache(
    make_client,
    credits_route: respx.Route,
    anon: respx.Route,
    client_id_file: Path,
    state_dir: Path,
) -> None:
    await make_client(api={"token": SecretStr("  nmv_usr_mine12345 ")}).credits()
    assert anon.call_count == 0
    assert bearers(credits_route) == ["Bearer nmv_usr_mine12345"]
    assert not client_id_file.exists()
    assert not (state_dir / "token.json").exists()


async def test_rate_limit_on_the_anonymous_token_call_is_a_quota_error_not_retried(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route, clock
) -> None:
    anon.mock(return_value=httpx.Response(429, headers={"Retry-After": "5"}))
    with pytest.raises(TokenQuotaError) as info:
        await client.credits()
    assert info.value.transient is False
    assert info.value.account_wide is True
    assert not isinstance(info.value, RateLimitedError)  # a quota, not a reason to wait
    assert (info.value.code, info.value.retry_after) == (429, 5.0)
    assert "NEMO_TOKEN" in str(info.value)
    assert anon.call_count == 1
    assert credits_route.call_count == 0
    assert clock.sleeps == []


async def test_a_failing_anonymous_token_call_is_retried_by_its_own_loop_only(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route, clock: FakeClock
) -> None:
    anon.mock(return_value=httpx.Response(503))
    with pytest.raises(ServerError):
        await client.credits()
    assert anon.call_count == 3  # 1 + retries, not (1 + retries) squared
    assert len(clock.sleeps) == 2
    assert credits_route.call_count == 0


async def test_a_transient_fault_with_a_token_in_hand_repeats_the_call_not_the_token(
    client: NemoClient, server: respx.MockRouter, anon: respx.Route
) -> None:
    route = server.get(CREDITS_PATH).mock(side_effect=[httpx.Response(503), ok(CREDITS)])
    await client.credits()
    assert anon.call_count == 1
    assert bearers(route) == [f"Bearer {ANON_TOKEN}"] * 2


async def test_a_token_error_after_a_transient_fault_renews_once_and_succeeds(
    client: NemoClient, server: respx.MockRouter, anon: respx.Route
) -> None:
    anon.mock(side_effect=[ok({"token": "nmv_usr_first0001"}), ok({"token": "nmv_usr_second002"})])
    route = server.get(CREDITS_PATH).mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, json=envelope(code=1001)),
            ok(CREDITS),
        ]
    )
    await client.credits()
    assert bearers(route) == [
        "Bearer nmv_usr_first0001",
        "Bearer nmv_usr_first0001",
        "Bearer nmv_usr_second002",
    ]


async def test_reconfigure_with_the_same_token_keeps_the_anonymous_token_in_hand(
    client: NemoClient,
    anon: respx.Route,
    credits_route: respx.Route,
    client_id_file: Path,
    state_dir: Path,
) -> None:
    await client.credits()
    (state_dir / "token.json").unlink()
    client.reconfigure(ApiSettings(base_url=BASE, client_id_file=client_id_file), ExportSettings())
    await client.credits()
    assert anon.call_count == 1
    assert bearers(credits_route) == [f"Bearer {ANON_TOKEN}"] * 2


async def test_reconfigure_switches_to_a_new_user_token_and_back_to_anonymous(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route, client_id_file: Path
) -> None:
    mine = ApiSettings(
        base_url=BASE, client_id_file=client_id_file, token=SecretStr("nmv_usr_mine12345")
    )
    client.reconfigure(mine, ExportSettings())
    await client.credits()
    assert client.anonymous_client_id is None
    client.reconfigure(ApiSettings(base_url=BASE, client_id_file=client_id_file), ExportSettings())
    await client.credits()
    assert bearers(credits_route) == ["Bearer nmv_usr_mine12345", f"Bearer {ANON_TOKEN}"]
    assert anon.call_count == 1
    assert client.anonymous_client_id == client_id_file.read_text().strip()


async def test_client_id_refused_is_regenerated_and_the_call_repeated_once(
    client: NemoClient,
    anon: respx.Route,
    credits_route: respx.Route,
    known_id: str,
    client_id_file: Path,
) -> None:
    anon.mock(side_effect=[httpx.Response(400), ok({"token": ANON_TOKEN})])
    await client.credits()
    new_id = client_id_file.read_text().strip()
    assert new_id != known_id
    assert str(uuid.UUID(new_id)) == new_id
    assert client_ids(anon) == [known_id, new_id]
    assert credits_route.call_count == 1


async def test_client_id_refused_twice_raises(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route
) -> None:
    anon.mock(return_value=httpx.Response(400))
    with pytest.raises(ClientIdError):
        await client.credits()
    assert anon.call_count == 2
    assert credits_route.call_count == 0


async def test_refused_configured_client_id_is_replaced_for_the_run_only(
    make_client, anon: respx.Route, credits_route: respx.Route, client_id_file: Path
) -> None:
    configured = str(uuid.uuid4())
    anon.mock(side_effect=[httpx.Response(400), ok({"token": ANON_TOKEN})])
    await make_client(api={"client_id": configured}).credits()
    first, second = client_ids(anon)
    assert first == configured
    assert second != configured
    assert not client_id_file.exists()


async def test_attribution_headers_are_on_every_request_and_bearer_on_all_but_anonymous(
    make_client, server: respx.MockRouter, anon: respx.Route, credits_route: respx.Route, tmp_path
) -> None:
    client = make_client(
        api={"skill_source": "src-x", "skill_version": "9.9", "skill_platform": "plat-y"}
    )
    server.post("/api/tasks/me/with-session/nemo_agent").respond(
        200, json=envelope({"task_id": "t1", "session_id": "s1"})
    )
    server.post("/api/auth/claim-token").respond(200, json=envelope({"claim_token": "clm_x"}))
    server.post("/api/upload-video/nemo_agent/me/s1").respond(200, json=envelope())
    server.post("/run_sse").respond(
        200, headers={"content-type": "text/event-stream"}, content=b"data:\n\n"
    )
    server.get("/api/state/nemo_agent/me/s1/latest").respond(200, json=envelope())
    server.post("/api/render/proxy/lambda").respond(200, json=envelope())
    server.get("/api/render/proxy/lambda/r1").respond(
        200, json={"code": 0, "status": "completed", "output": {"url": "/missing.mp4"}}
    )
    server.get("/missing.mp4").respond(404)
    server.get("/api/render/proxy/r1/download").respond(
        200, content=b"\x00\x00\x00\x18ftypmp42video"
    )
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"clip")

    await client.credits()
    session = await client.create_session()
    await client.claim_token(session)
    await client.upload("s1", [clip])
    await client.send_turn("s1", "edit")
    state = await client.get_state("s1")
    await client.start_render("s1", state.draft, "r1")
    done = await client.render_status("r1")
    await client.download(done, tmp_path / "out.mp4")

    requests = [call.request for call in server.calls]
    assert [r.url.path for r in requests] == [
        "/api/auth/anonymous-token",
        "/api/credits/balance/simple",
        "/api/tasks/me/with-session/nemo_agent",
        "/api/auth/claim-token",
        "/api/upload-video/nemo_agent/me/s1",
        "/run_sse",
        "/api/state/nemo_agent/me/s1/latest",
        "/api/render/proxy/lambda",
        "/api/render/proxy/lambda/r1",
        "/missing.mp4",
        "/api/render/proxy/r1/download",
    ]
    # output.url may be another host (a signed link): it gets none of our headers
    output = [r for r in requests if r.url.path == "/missing.mp4"]
    assert [h for h in output[0].headers if h.lower().startswith("x-skill")] == []
    for request in requests:
        if request in output:
            continue
        assert request.headers["X-Skill-Source"] == "src-x", request.url
        assert request.headers["X-Skill-Version"] == "9.9", request.url
        assert request.headers["X-Skill-Platform"] == "plat-y", request.url
    no_token = {"/api/auth/anonymous-token", "/missing.mp4"}
    for request in requests:
        expected = None if request.url.path in no_token else f"Bearer {ANON_TOKEN}"
        assert request.headers.get("Authorization") == expected, request.url


async def test_concurrent_token_errors_share_one_renewal(
    client: NemoClient, server: respx.MockRouter, anon: respx.Route
) -> None:
    anon.mock(
        side_effect=[ok({"token": "nmv_usr_stale00001"}), ok({"token": "nmv_usr_fresh00002"})]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer nmv_usr_stale00001":
            return httpx.Response(200, json=envelope(code=1001))
        return ok(CREDITS)

    route = server.get(CREDITS_PATH).mock(side_effect=answer)
    await asyncio.gather(*(client.credits() for _ in range(4)))
    assert anon.call_count == 2  # the first token and one renewal, not one per call
    assert bearers(route).count("Bearer nmv_usr_fresh00002") == 4  # one success per call


async def test_cached_token_close_to_expiry_is_renewed_before_use(
    client: NemoClient,
    anon: respx.Route,
    credits_route: respx.Route,
    state_dir: Path,
    known_id: str,
) -> None:
    path = state_dir / "token.json"
    write_cache(path, "nmv_usr_expiring01", known_id)
    entry = json.loads(path.read_text())
    entry[BASE]["expires_at"] = time.time() + 600  # inside the one-hour margin
    path.write_text(json.dumps(entry))
    await client.credits()
    assert anon.call_count == 1
    assert bearers(credits_route) == [f"Bearer {ANON_TOKEN}"]


def test_user_token_of_any_shape_is_registered_for_redaction(make_client) -> None:
    from nemowatch.redact import redact

    make_client(api={"token": SecretStr("Opaque-User-Secret-42")})
    assert redact("sent Opaque-User-Secret-42 once") == "sent *** once"


async def test_default_attribution_names_nemowatch_and_its_version(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route
) -> None:
    from nemowatch import __version__

    await client.credits()
    headers = credits_route.calls.last.request.headers
    assert headers["X-Skill-Source"] == "nemowatch"
    assert headers["X-Skill-Version"] == __version__
    assert headers["X-Skill-Platform"]


async def test_anonymous_token_answer_without_token_is_an_error(
    client: NemoClient, anon: respx.Route, credits_route: respx.Route
) -> None:
    from nemowatch.errors import TransportError

    anon.mock(return_value=ok({"credits": 100}))
    with pytest.raises(TransportError, match="no token"):
        await client.credits()
    assert credits_route.call_count == 0


def test_token_cache_file_is_never_group_readable_even_when_umask_is_lax(
    state_dir: Path,
) -> None:
    from nemowatch.api.auth import CachedToken, TokenCache

    old = os.umask(0)
    try:
        TokenCache(state_dir, BASE).save(CachedToken("nmv_usr_x1234567", "id", time.time() + 60))
    finally:
        os.umask(old)
    assert stat.S_IMODE((state_dir / "token.json").stat().st_mode) == 0o600
