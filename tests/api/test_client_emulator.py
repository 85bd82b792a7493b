"""Every client call against the emulator on a random loopback port: real HTTP,
real SSE streams, real files; faults from the fault plan reaching their outcome."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nemowatch.api import Draft, NemoClient, RenderStatus, RetryPolicy, Session
from nemowatch.api.auth import TokenCache
from nemowatch.config import ApiSettings, ExportSettings
from nemowatch.emulator import EmulatorServer, EmulatorSettings
from nemowatch.errors import (
    FileTooLargeError,
    OutOfCreditsError,
    PlanBlockedError,
    RenderFailedError,
    ServerError,
    SessionLostError,
    StreamIdleError,
    TokenQuotaError,
    TransportError,
    UnsupportedFileError,
    UploadUnknownError,
)
from nemowatch.jobs.rendering import wait_for_render

FAST = EmulatorSettings(
    turn_seconds=0.3,
    heartbeat_seconds=0.05,
    second_stage_delay_seconds=0.2,
    render_seconds=0.4,
    force_silent=False,
)
EXPORT = ExportSettings(poll_first_seconds=0.05, poll_max_seconds=0.2, timeout_seconds=20)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(settings=FAST) as emu:
        yield emu


def client_for(http: httpx.AsyncClient, emu: EmulatorServer, home: Path, **api: Any) -> NemoClient:
    settings = ApiSettings(
        base_url=emu.url,
        client_id_file=home / ".config" / "nemovideo" / "client_id",
        sse_idle_timeout_seconds=api.pop("sse_idle_timeout_seconds", 5),
        **api,
    )
    return NemoClient(
        http,
        settings,
        EXPORT,
        state_dir=home / "state",
        retry=RetryPolicy(retries=3, base_seconds=0.01, max_seconds=0.05, rate_limit_seconds=0.05),
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient, emulator: EmulatorServer, isolated_env: Path) -> NemoClient:
    return client_for(http, emulator, isolated_env)


async def edited_session(client: NemoClient, video: Path) -> tuple[Session, Draft]:
    """A session with `video` uploaded and one edit made: ready to export."""
    session = await client.create_session()
    await client.upload(session.session_id, [video])
    await client.send_turn(session.session_id, "cut it")
    return session, (await client.get_state(session.session_id)).draft


async def rendered(
    client: NemoClient,
    render_id: str,
    on_progress: Callable[[RenderStatus], None] | None = None,
) -> RenderStatus:
    """The render polled to its end as the daemon polls it, on the real clock."""
    return await wait_for_render(
        client,
        render_id,
        EXPORT,
        clock=time.monotonic,
        sleep=asyncio.sleep,
        on_progress=on_progress,
    )


def calls(emu: EmulatorServer, endpoint: str) -> list[dict[str, Any]]:
    return [r for r in emu.control.journal() if r["endpoint"] == endpoint]


async def test_the_whole_flow_edits_renders_and_downloads_a_real_mp4(
    client: NemoClient, emulator: EmulatorServer, sample_video: Path, tmp_path: Path
) -> None:
    before = await client.credits()
    assert before.available == 100
    session = await client.create_session()
    link = client.web_link(await client.claim_token(session))
    assert link.startswith("https://nemovideo.com/workspace/claim?ct=clm_")

    sent: list[tuple[int, int]] = []
    uploaded = await client.upload(
        session.session_id, [sample_video], progress=lambda n, t: sent.append((n, t))
    )
    size = sample_video.stat().st_size
    assert uploaded.bytes_sent == size and sent[-1] == (size, size)
    (upload_call,) = calls(emulator, "upload")
    assert upload_call["body"]["files"][0]["size"] == size

    state = await client.get_state(session.session_id)
    assert not state.draft.is_ready_for_export
    assert state.video_infos, "the uploaded clip is listed in the state"
    fingerprint = state.fingerprint()

    turn = await client.send_turn(session.session_id, "trim the silences, add a title")
    assert turn.text and not turn.silent
    assert turn.tool_calls
    edited = await client.get_state(session.session_id)
    assert edited.draft.is_ready_for_export
    assert edited.fingerprint() != fingerprint
    assert edited.draft.summary().startswith("Timeline (")
    assert "1.5s" in edited.draft.summary(), "the real clip duration reaches the draft"
    assert (await client.credits()).available == 50

    render_id = client.new_render_id()
    await client.start_render(session.session_id, edited.draft, render_id)
    seen: list[str] = []
    done = await rendered(client, render_id, on_progress=lambda s: seen.append(s.state))
    assert seen[-1] == "completed" and done.url
    dest = await client.download(done, tmp_path / "out" / "result.mp4")
    data = dest.read_bytes()
    assert data[4:8] == b"ftyp"
    assert not list(dest.parent.glob(".*"))

    (sse_call,) = calls(emulator, "run_sse")
    assert sse_call["body"]["new_message"]["parts"][0]["text"] == "trim the silences, add a title"
    assert sse_call["body"]["session_id"] == session.session_id
    for record in emulator.control.journal():
        assert "nmv_usr_" not in str(record["headers"])
        if record["endpoint"] == "output":  # a signed link: none of our headers go there
            assert "X-Skill-Source" not in record["headers"]
            assert "Authorization" not in record["headers"]
        else:
            assert record["headers"].get("X-Skill-Source") == "nemowatch"


async def test_several_files_go_into_one_session(
    client: NemoClient, emulator: EmulatorServer, sample_video: Path, tmp_path: Path
) -> None:
    music = tmp_path / "music.mp3"
    shutil.copyfile(sample_video, music)  # the emulator accepts by extension
    session = await client.create_session()
    await client.upload(session.session_id, [sample_video, music])
    (call,) = calls(emulator, "upload")
    assert [f["name"] for f in call["body"]["files"]] == ["clip.mp4", "music.mp3"]
    state = await client.get_state(session.session_id)
    assert len(state.video_infos) == 2


async def test_the_token_is_cached_and_reused_by_the_next_client(
    http: httpx.AsyncClient, emulator: EmulatorServer, isolated_env: Path
) -> None:
    await client_for(http, emulator, isolated_env).credits()
    await client_for(http, emulator, isolated_env).credits()
    assert len(calls(emulator, "anonymous_token")) == 1
    cache = TokenCache(isolated_env / "state", emulator.url)
    assert (cache.path.stat().st_mode & 0o777) == 0o600
    client_id = (isolated_env / ".config" / "nemovideo" / "client_id").read_text().strip()
    assert calls(emulator, "anonymous_token")[0]["headers"]["X-Client-Id"] == client_id


async def test_an_expired_token_is_renewed_with_the_same_client_id_and_the_call_repeated(
    client: NemoClient, emulator: EmulatorServer
) -> None:
    session = await client.create_session()
    emulator.control.action("expire_tokens")
    state = await client.get_state(session.session_id)
    assert not state.draft.is_ready_for_export
    tokens = calls(emulator, "anonymous_token")
    assert len(tokens) == 2
    assert tokens[0]["headers"]["X-Client-Id"] == tokens[1]["headers"]["X-Client-Id"]
    assert [r["code"] for r in calls(emulator, "state")] == [1001, 0]


async def test_the_anonymous_token_quota_is_reported_as_such(
    http: httpx.AsyncClient, isolated_env: Path
) -> None:
    with EmulatorServer(settings=FAST.updated({"anon_token_quota": 0})) as emu:
        with pytest.raises(TokenQuotaError) as caught:
            await client_for(http, emu, isolated_env).credits()
        assert caught.value.account_wide
        assert len(calls(emu, "anonymous_token")) == 1, "the quota answer is not retried"


async def test_transient_faults_are_retried_until_they_pass(
    client: NemoClient, emulator: EmulatorServer
) -> None:
    session = await client.create_session()
    emulator.control.add_faults(
        [
            {"endpoint": "state", "times": 2, "http_status": 503},
            {"endpoint": "credits", "http_status": 429, "retry_after": 0.05},
        ]
    )
    await client.get_state(session.session_id)
    await client.credits()
    assert [r["status"] for r in calls(emulator, "state")] == [503, 503, 200]
    assert [r["status"] for r in calls(emulator, "credits")] == [429, 200]


async def test_a_persistent_server_error_gives_up_after_the_retries(
    client: NemoClient, emulator: EmulatorServer
) -> None:
    emulator.control.add_faults([{"endpoint": "session", "times": 0, "http_status": 500}])
    with pytest.raises(ServerError):
        await client.create_session()
    assert len(calls(emulator, "session")) == 4  # one call and three retries


async def test_upload_errors_are_typed(
    http: httpx.AsyncClient, isolated_env: Path, sample_video: Path, tmp_path: Path
) -> None:
    with EmulatorServer(settings=FAST.updated({"max_upload_mb": 0.01})) as emu:
        client = client_for(http, emu, isolated_env)
        session = await client.create_session()
        with pytest.raises(FileTooLargeError):
            await client.upload(session.session_id, [sample_video])
        doc = tmp_path / "notes.pdf"
        doc.write_bytes(b"%PDF-1.4")
        with pytest.raises(UnsupportedFileError):
            await client.upload(session.session_id, [doc])


async def test_a_dropped_upload_is_sent_again_whole(
    client: NemoClient, emulator: EmulatorServer, tmp_path: Path
) -> None:
    # larger than the loopback's buffers: the rest of the body never left
    video = tmp_path / "big.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(32 * 1024 * 1024))
    session = await client.create_session()
    emulator.control.add_faults([{"endpoint": "upload", "drop_after_bytes": 4096}])
    await client.upload(session.session_id, [video])
    attempts = calls(emulator, "upload")
    assert len(attempts) == 2
    assert attempts[-1]["body"]["files"][0]["size"] == video.stat().st_size
    assert len((await client.get_state(session.session_id)).video_infos) == 1


async def test_an_upload_whose_answer_is_lost_after_the_whole_body_is_not_retried(
    client: NemoClient, emulator: EmulatorServer, sample_video: Path
) -> None:
    """The service may hold the file: sending it again into that session could double it."""
    session = await client.create_session()
    emulator.control.add_faults([{"endpoint": "upload", "drop_after_bytes": 10**9}])
    with pytest.raises(UploadUnknownError):
        await client.upload(session.session_id, [sample_video])
    assert len(calls(emulator, "upload")) == 1


async def test_out_of_credits_on_a_turn_charges_nothing(
    client: NemoClient, emulator: EmulatorServer, sample_video: Path
) -> None:
    session = await client.create_session()
    await client.upload(session.session_id, [sample_video])
    emulator.control.action("set_credits", value=20)
    with pytest.raises(OutOfCreditsError) as caught:
        await client.send_turn(session.session_id, "make it pop")
    assert caught.value.account_wide
    assert (await client.credits()).available == 20
    assert len(calls(emulator, "run_sse")) == 1
    assert not (await client.get_state(session.session_id)).draft.is_ready_for_export


async def test_a_stream_dropped_mid_turn_is_not_resent_and_the_edit_still_lands(
    client: NemoClient, emulator: EmulatorServer, sample_video: Path
) -> None:
    session = await client.create_session()
    await client.upload(session.session_id, [sample_video])
    before = (await client.get_state(session.session_id)).fingerprint()
    emulator.control.add_faults([{"endpoint": "run_sse", "drop_after_events": 1}])
    with pytest.raises(TransportError):
        await client.send_turn(session.session_id, "add music")
    assert len(calls(emulator, "run_sse")) == 1
    # the recovery rule: read the state until it differs from before the turn
    for _ in range(50):
        state = await client.get_state(session.session_id)
        if state.fingerprint() != before:
            break
        await asyncio.sleep(0.1)
    assert state.fingerprint() != before
    assert len(calls(emulator, "run_sse")) == 1


async def test_heartbeats_alone_end_the_turn_as_lost(
    http: httpx.AsyncClient, emulator: EmulatorServer, isolated_env: Path, sample_video: Path
) -> None:
    client = client_for(http, emulator, isolated_env, sse_idle_timeout_seconds=0.4)
    session = await client.create_session()
    await client.upload(session.session_id, [sample_video])
    emulator.control.set(heartbeat_only_seconds=3.0, heartbeat_style="json")
    with pytest.raises(StreamIdleError):
        await client.send_turn(session.session_id, "make it shorter")
    assert len(calls(emulator, "run_sse")) == 1


async def test_a_silent_turn_returns_no_text_and_changes_the_state(
    client: NemoClient, emulator: EmulatorServer, sample_video: Path
) -> None:
    session = await client.create_session()
    await client.upload(session.session_id, [sample_video])
    before = (await client.get_state(session.session_id)).fingerprint()
    emulator.control.set(force_silent=True)
    turn = await client.send_turn(session.session_id, "tighten the cuts")
    assert turn.silent and turn.heartbeats >= 1
    assert (await client.get_state(session.session_id)).fingerprint() != before


async def test_a_lost_session_is_reported(client: NemoClient, emulator: EmulatorServer) -> None:
    session = await client.create_session()
    emulator.control.action("lose_sessions")
    with pytest.raises(SessionLostError):
        await client.get_state(session.session_id)
    assert len(calls(emulator, "state")) == 1


async def test_a_failed_render_raises_and_a_new_id_renders(
    client: NemoClient, emulator: EmulatorServer, sample_video: Path, tmp_path: Path
) -> None:
    session, draft = await edited_session(client, sample_video)
    emulator.control.add_faults([{"endpoint": "render_submit", "render_fail": True}])
    first = client.new_render_id()
    await client.start_render(session.session_id, draft, first)
    with pytest.raises(RenderFailedError):
        await rendered(client, first)
    second = client.new_render_id()
    assert second > first
    await client.start_render(session.session_id, draft, second)
    done = await rendered(client, second)
    assert (await client.download(done, tmp_path / "r.mp4")).stat().st_size > 0


async def test_export_blocked_by_the_plan_is_an_account_condition(
    client: NemoClient, emulator: EmulatorServer, sample_video: Path
) -> None:
    session, draft = await edited_session(client, sample_video)
    emulator.control.add_faults([{"endpoint": "render_submit", "http_status": 402}])
    with pytest.raises(PlanBlockedError) as caught:
        await client.start_render(session.session_id, draft, client.new_render_id())
    assert caught.value.account_wide
    assert len(calls(emulator, "render_submit")) == 1


async def test_a_download_cut_short_falls_back_to_the_api_path(
    client: NemoClient, emulator: EmulatorServer, sample_video: Path, tmp_path: Path
) -> None:
    session, draft = await edited_session(client, sample_video)
    render_id = await client.start_render(session.session_id, draft, client.new_render_id())
    done = await rendered(client, render_id)
    emulator.control.add_faults(
        [
            {"endpoint": "output", "drop_after_bytes": 1000},
            {"endpoint": "render_download", "drop_after_bytes": 2000},
        ]
    )
    dest = await client.download(done, tmp_path / "final.mp4")
    assert dest.read_bytes()[4:8] == b"ftyp"
    assert len(calls(emulator, "output")) == 1
    assert len(calls(emulator, "render_download")) == 2
    assert "Authorization" not in calls(emulator, "output")[0]["headers"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final.mp4", "home"]
