"""The journal: what was received, with secrets masked; control calls left out."""

from __future__ import annotations

import httpx
from emukit import ATTRIBUTION, Nemo

from nemowatch.emulator import EmulatorServer, EmulatorSettings, serve


def test_every_api_call_is_journaled_with_the_token_masked(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    token = nemo.http.headers["Authorization"].removeprefix("Bearer ")
    nemo.turn(project, 'Add the title "Urban Dreams"')
    emu.control.renders()  # control calls are not journaled
    records = emu.control.journal()
    assert [r["endpoint"] for r in records] == ["anonymous_token", "session", "upload", "run_sse"]
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    for record in records:
        assert token not in str(record)
        assert record["started_at"] <= record["finished_at"]
        assert record["status"] == 200
        for name, value in ATTRIBUTION.items():
            assert record["headers"][name] == value
    assert "Authorization" not in records[0]["headers"]
    for record in records[1:]:
        assert record["headers"]["Authorization"] == "Bearer ***"
    sse = records[-1]
    assert sse["method"] == "POST" and sse["path"] == "/run_sse"
    assert sse["body"]["new_message"]["parts"][0]["text"] == 'Add the title "Urban Dreams"'
    assert sse["code"] is None  # a stream has no envelope
    assert records[1]["body"] == {"task_name": "project", "language": "en"}
    assert records[1]["code"] == 0


def test_the_journal_filters_by_endpoint_and_clears(emu: EmulatorServer, nemo: Nemo) -> None:
    nemo.token()
    nemo.credits()
    nemo.http.get("/api/state/nemo_agent/me/nope/latest")
    (state,) = emu.control.journal("state")
    assert state["code"] == 1002 and state["status"] == 200
    emu.control.clear_journal()
    assert emu.control.journal() == []
    nemo.credits()
    assert emu.control.journal()[0]["seq"] == 4


def test_faulted_and_unknown_calls_are_journaled_too(emu: EmulatorServer, nemo: Nemo) -> None:
    nemo.token()
    emu.control.add_faults([{"endpoint": "run_sse", "http_status": 429}])
    nemo.http.post("/run_sse", json=nemo.turn_body("ses_x", "make it pop"))
    nemo.http.get("/api/nothing/here")
    sse, unknown = emu.control.journal()[1:]
    assert sse["status"] == 429 and sse["code"] == 429
    assert sse["fault"]["http_status"] == 429
    assert sse["body"]["new_message"]["parts"][0]["text"] == "make it pop"
    assert unknown["endpoint"] is None and unknown["status"] == 404


async def test_serve_runs_inside_an_existing_event_loop() -> None:
    async with serve(EmulatorSettings(credits=7)) as url:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await http.post("/api/auth/anonymous-token", headers={"X-Client-Id": "x"})
            assert answer.json()["data"]["credits"] == 7
