"""Edit turns over SSE: event shapes, heartbeats, silent turns, credits, state changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from emukit import Nemo, wait_until

from nemowatch.emulator import EmulatorServer

TEMPORARY = "I encountered a temporary issue. Please try again."


def test_a_turn_streams_adk_events_tool_calls_then_partial_then_final_text(
    nemo: Nemo, project: str
) -> None:
    stream = nemo.turn(project, 'Cut it short and add the title "Urban Dreams"')
    assert stream.status == 200
    assert stream.content_type.startswith("text/event-stream")
    events = stream.events
    for event in events:
        assert event["author"] == "nemo_agent"
        assert event["id"] and event["invocationId"] == events[0]["invocationId"]
        assert isinstance(event["timestamp"], float)
        assert event["content"]["role"] == "model"
    assert "functionCall" in events[0]["content"]["parts"][0]
    assert "functionResponse" in events[1]["content"]["parts"][0]
    texts = stream.texts
    partials = [text for partial, text in texts if partial]
    finals = [text for partial, text in texts if not partial]
    assert len(partials) >= 2
    assert finals == ["".join(partials)]
    assert texts[-1][0] is False
    assert "Urban Dreams" in finals[0] and "Export" in finals[0]  # it believes in a GUI


def test_a_turn_lands_the_edit_then_the_second_stage_changes_the_state_again(
    nemo: Nemo, project: str
) -> None:
    before = nemo.state(project)
    assert before["draft"]["t"] == []
    nemo.turn(project, 'Add the title "Urban Dreams"')
    after = nemo.state(project)
    tracks = after["draft"]["t"]
    assert [t["tt"] for t in tracks] == [0, 7]
    (segment,) = tracks[0]["sg"]
    assert segment["m"]["name"] == "city.mp4" and 1400 <= segment["d"] <= 1600
    assert segment["s"] == 0
    assert tracks[1]["sg"][0]["m"]["title"] == "Urban Dreams"
    assert after["version"] > before["version"]
    staged = wait_until(lambda: (s := nemo.state(project))["version"] > after["version"] and s)
    bgm = staged["draft"]["t"][1]
    assert bgm["tt"] == 1
    assert bgm["sg"][0]["m"]["name"] == "Lo-fi" and bgm["sg"][0]["m"]["volume"] == 0.35


def test_uploaded_audio_gets_an_audio_track(nemo: Nemo, project: str, tmp_path: Any) -> None:
    song = tmp_path / "song.m4a"
    song.write_bytes(b"fake")
    nemo.upload(project, song)
    nemo.turn(project, "use my song")
    assert [t["tt"] for t in nemo.state(project)["draft"]["t"]] == [0, 1, 7]


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("comment", [": heartbeat"]),
        ("event", ["event: heartbeat", "data: {}"]),
        ("json", ['data: {"type": "heartbeat"}']),
        ("empty", ["data:"]),
    ],
)
def test_heartbeats_come_in_each_style(
    emu: EmulatorServer, nemo: Nemo, project: str, style: str, expected: list[str]
) -> None:
    emu.control.set(heartbeat_style=style, heartbeat_only_seconds=0.2)
    lines = nemo.turn(project).lines
    starts = [i for i, line in enumerate(lines) if line == expected[0]]
    assert len(starts) >= 3
    for i in starts:
        assert lines[i : i + len(expected)] == expected
    assert len(nemo_events_only(lines)) >= 5


def nemo_events_only(lines: list[str]) -> list[dict[str, Any]]:
    payloads = [json.loads(line[5:]) for line in lines if line.startswith("data: {")]
    return [p for p in payloads if p and p.get("type") != "heartbeat"]


def test_mixed_heartbeats_rotate_through_every_style(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    emu.control.set(heartbeat_only_seconds=0.3)
    lines = set(nemo.turn(project).lines)
    assert {": heartbeat", "event: heartbeat", 'data: {"type": "heartbeat"}', "data:"} <= lines


def test_heartbeat_only_stretch_sits_between_tool_events_and_text(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    emu.control.set(heartbeat_only_seconds=0.4, heartbeat_style="comment")
    lines = nemo.turn(project).lines
    tool = max(i for i, line in enumerate(lines) if "functionResponse" in line)
    text = min(i for i, line in enumerate(lines) if '"text"' in line)
    between = [line for line in lines[tool + 1 : text] if line]
    assert len(between) >= 6 and set(between) == {": heartbeat"}


def test_a_silent_turn_has_tool_events_only_and_still_edits(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    emu.control.set(force_silent=True)
    stream = nemo.turn(project)
    assert stream.texts == []
    assert len(stream.events) == 2
    assert nemo.state(project)["draft"]["t"]


def test_the_silent_share_comes_from_the_seeded_rng(emu: EmulatorServer, nemo: Nemo) -> None:
    emu.control.set(force_silent=None, silent_share=0.5, seed=7, turn_seconds=0.02, turn_cost=0)
    nemo.token()
    sid = nemo.session()
    first = [not nemo.turn(sid, f"turn {i}").texts for i in range(12)]
    emu.control.set(seed=8)
    emu.control.set(seed=7)  # a new seed restarts the sequence
    again = [not nemo.turn(sid, f"turn {i}").texts for i in range(12)]
    assert first == again
    assert 0 < sum(first) < 12


def test_a_temporary_issue_may_trail_the_normal_text(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    emu.control.set(force_temporary_issue=True)
    texts = nemo.turn(project).texts
    assert texts[-1] == (False, TEMPORARY)
    assert texts[-2][0] is False and "Export" in texts[-2][1]


def test_short_credits_answer_2001_as_json_not_a_stream(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    emu.control.action("set_credits", 49)
    stream = nemo.turn(project)
    assert stream.status == 200
    assert stream.content_type.startswith("application/json")
    assert json.loads("".join(stream.lines))["code"] == 2001
    assert nemo.state(project)["draft"]["t"] == []


def test_credits_are_frozen_during_the_turn_and_charged_after(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    emu.control.set(turn_seconds=1.0)
    seen: dict[str, Any] = {}
    with nemo.http.stream("POST", "/run_sse", json=nemo.turn_body(project, "go")) as response:
        for line in response.iter_lines():
            if "functionCall" in line and "during" not in seen:
                seen["during"] = nemo.credits()
    assert seen["during"] == {"available": 50, "frozen": 50, "total": 100}
    assert nemo.credits() == {"available": 50, "frozen": 0, "total": 50}


def test_a_badly_shaped_body_is_http_400(nemo: Nemo, project: str) -> None:
    good = nemo.turn_body(project, "hello")
    bad_bodies = [
        {**good, "app_name": "other"},
        {k: v for k, v in good.items() if k != "session_id"},
        {**good, "new_message": {"parts": []}},
        {**good, "new_message": "hello"},
        {"appName": "nemo_agent", "sessionId": project, "newMessage": good["new_message"]},
    ]
    for body in bad_bodies:
        response = nemo.http.post("/run_sse", json=body)
        assert response.status_code == 400, body
        assert response.json()["code"] == 400
    assert nemo.credits()["available"] == 100


def test_the_stream_cap_ends_the_stream_but_not_the_turn(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    emu.control.set(stream_cap_seconds=0.1, turn_seconds=0.6)
    stream = nemo.turn(project)
    assert stream.status == 200 and stream.texts == []
    assert nemo.state(project)["draft"]["t"] == []
    wait_until(lambda: nemo.state(project)["draft"]["t"])
