"""Sessions (1002 when lost or idle) and claim tokens."""

from __future__ import annotations

from emukit import Nemo

from nemowatch.emulator import EmulatorServer


def test_a_session_has_a_task_and_an_empty_draft(nemo: Nemo) -> None:
    nemo.token()
    body = nemo.http.post(
        "/api/tasks/me/with-session/nemo_agent", json={"task_name": "project", "language": "en"}
    ).json()
    assert body["code"] == 0
    assert body["data"]["task_id"] and body["data"]["session_id"]
    state = nemo.state(body["data"]["session_id"])
    assert state["draft"]["t"] == []
    assert state["video_infos"] == [] and state["generated_media"] == []
    assert "canvas_config" in state


def test_lost_sessions_answer_1002(emu: EmulatorServer, nemo: Nemo) -> None:
    nemo.token()
    sid = nemo.session()
    emu.control.action("lose_sessions")
    body = nemo.http.get(f"/api/state/nemo_agent/me/{sid}/latest").json()
    assert body["code"] == 1002
    assert nemo.http.post("/run_sse", json=nemo.turn_body(sid, "hi")).json()["code"] == 1002


def test_an_idle_session_expires_but_use_keeps_it_alive(emu: EmulatorServer, nemo: Nemo) -> None:
    emu.control.set(session_ttl_seconds=100)
    nemo.token()
    sid = nemo.session()
    emu.control.action("advance_clock", 60)
    assert nemo.state(sid)["draft"] == {"t": []}
    emu.control.action("advance_clock", 60)
    assert nemo.state(sid)["draft"] == {"t": []}  # touched 60 s ago
    emu.control.action("advance_clock", 101)
    assert nemo.http.get(f"/api/state/nemo_agent/me/{sid}/latest").json()["code"] == 1002


def test_unknown_and_foreign_sessions_answer_1002(nemo: Nemo) -> None:
    nemo.token("owner")
    sid = nemo.session()
    assert nemo.http.get("/api/state/nemo_agent/me/ses_nope/latest").json()["code"] == 1002
    nemo.token("stranger")
    assert nemo.http.get(f"/api/state/nemo_agent/me/{sid}/latest").json()["code"] == 1002


def test_claim_token_for_a_session(nemo: Nemo) -> None:
    nemo.token()
    created = nemo.http.post("/api/tasks/me/with-session/nemo_agent", json={}).json()["data"]
    body = nemo.http.post("/api/auth/claim-token", json=created).json()
    assert body["code"] == 0
    assert body["data"]["claim_token"].startswith("clm_")
    assert body["data"]["expires_in"] == 604800
    wrong = {"task_id": "task_other", "session_id": created["session_id"]}
    assert nemo.http.post("/api/auth/claim-token", json=wrong).json()["code"] == 1002
    missing = nemo.http.post("/api/auth/claim-token", json={"task_id": "x"})
    assert missing.status_code == 400
