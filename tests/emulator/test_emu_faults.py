"""The fault plan: every effect, and the after/times counting."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import httpx
import pytest
from emukit import Nemo, wait_until

from nemowatch.emulator import EmulatorControlError, EmulatorServer, EmulatorSettings, FaultRule


def test_an_http_status_fault_with_retry_after(emu: EmulatorServer, nemo: Nemo) -> None:
    nemo.token()
    emu.control.add_faults([{"endpoint": "credits", "http_status": 429, "retry_after": 7}])
    response = nemo.http.get("/api/credits/balance/simple")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["code"] == 429
    assert nemo.http.get("/api/credits/balance/simple").status_code == 200


def test_an_http_status_fault_may_carry_its_own_envelope_code(
    emu: EmulatorServer, nemo: Nemo
) -> None:
    nemo.token()
    emu.control.add_faults([{"endpoint": "session", "http_status": 503, "code": 5003}])
    response = nemo.http.post("/api/tasks/me/with-session/nemo_agent", json={})
    assert response.status_code == 503 and response.json()["code"] == 5003


def test_an_envelope_code_fault_is_http_200(emu: EmulatorServer, nemo: Nemo) -> None:
    nemo.token()
    emu.control.add_faults([{"endpoint": "*", "code": 2001, "message": "no credits"}])
    response = nemo.http.get("/api/credits/balance/simple")
    assert response.status_code == 200
    assert response.json() == {"code": 2001, "data": None, "message": "no credits"}


def test_after_and_times_count_matching_calls_from_when_the_rule_was_added(
    emu: EmulatorServer, nemo: Nemo
) -> None:
    nemo.token()
    nemo.credits()  # before the rule: not counted
    emu.control.add_faults([{"endpoint": "credits", "code": 9001, "after": 1, "times": 2}])
    # Other endpoints do not count.
    nemo.http.get("/api/state/nemo_agent/me/ses_x/latest")
    codes = [nemo.http.get("/api/credits/balance/simple").json()["code"] for _ in range(5)]
    assert codes == [0, 9001, 9001, 0, 0]
    (rule,) = emu.control.faults()
    assert rule["seen"] == 5 and rule["fired"] == 2


def test_times_zero_fires_forever_until_cleared(emu: EmulatorServer, nemo: Nemo) -> None:
    nemo.token()
    emu.control.add_faults([{"endpoint": "credits", "http_status": 500, "times": 0}])
    statuses = [nemo.http.get("/api/credits/balance/simple").status_code for _ in range(4)]
    assert statuses == [500] * 4
    emu.control.clear_faults()
    assert nemo.http.get("/api/credits/balance/simple").status_code == 200
    assert emu.control.faults() == []


def test_a_delay_fault_slows_the_answer(emu: EmulatorServer, nemo: Nemo) -> None:
    nemo.token()
    emu.control.add_faults([{"endpoint": "credits", "delay_seconds": 0.3}])
    started = time.monotonic()
    assert nemo.credits()["available"] == 100
    assert time.monotonic() - started >= 0.3


def test_drop_mid_upload_cuts_the_connection_and_stores_nothing(
    emu: EmulatorServer, nemo: Nemo, tmp_path: Path
) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\1" * (8 * 1024 * 1024))
    nemo.token()
    sid = nemo.session()
    emu.control.add_faults([{"endpoint": "upload", "drop_after_bytes": 65536}])
    with pytest.raises(httpx.TransportError):
        nemo.upload(sid, big)
    (record,) = emu.control.journal("upload")
    assert record["aborted"] is True
    assert record["body"]["received_bytes"] == 65536
    assert record["first_byte_at"] >= record["started_at"]
    assert nemo.state(sid)["video_infos"] == []


def test_drop_mid_stream_still_lands_the_edit_and_charges(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    emu.control.add_faults([{"endpoint": "run_sse", "drop_after_events": 1}])
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with nemo.http.stream("POST", "/run_sse", json=nemo.turn_body(project, "go")) as r:
            received.extend(r.iter_lines())
    assert sum('"functionCall"' in line for line in received) == 1
    assert not any('"text"' in line for line in received)
    wait_until(lambda: nemo.state(project)["draft"]["t"])
    assert nemo.credits() == {"available": 50, "frozen": 0, "total": 50}
    (record,) = emu.control.journal("run_sse")
    assert record["aborted"] is True and record["status"] == 200


def test_an_error_event_ends_the_stream_and_the_edit_does_not_land(
    emu: EmulatorServer, nemo: Nemo, project: str
) -> None:
    error = {"errorCode": "RESOURCE_EXHAUSTED", "errorMessage": "model overloaded"}
    emu.control.add_faults([{"endpoint": "run_sse", "error_event": error}])
    stream = nemo.turn(project)
    last = stream.events[-1]
    assert last["errorCode"] == "RESOURCE_EXHAUSTED"
    assert last["errorMessage"] == "model overloaded"
    assert stream.texts == []
    assert nemo.state(project)["draft"]["t"] == []
    assert nemo.credits() == {"available": 100, "frozen": 0, "total": 100}


def test_drop_mid_download_gives_an_incomplete_body(
    emu: EmulatorServer, nemo: Nemo, edited: str
) -> None:
    nemo.submit(edited, "render_1")
    url = nemo.wait_render("render_1")["output"]["url"]
    full = httpx.get(url).content
    emu.control.add_faults(
        [
            {"endpoint": "output", "drop_after_bytes": 1000},
            {"endpoint": "render_download", "drop_after_bytes": 2000},
        ]
    )
    for target, client in ((url, httpx), ("/api/render/proxy/render_1/download", nemo.http)):
        got = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("GET", target) as response:
                assert int(response.headers["content-length"]) == len(full)
                for chunk in response.iter_bytes():
                    got.extend(chunk)
        assert bytes(got) == full[: len(got)] and len(got) in (1000, 2000)


def test_faults_can_be_armed_from_the_start(tmp_path: Path) -> None:
    faults = [FaultRule(endpoint="anonymous_token", http_status=503)]
    with EmulatorServer(settings=EmulatorSettings(), faults=faults) as emu:
        response = httpx.post(emu.url + "/api/auth/anonymous-token", headers={"X-Client-Id": "a"})
        assert response.status_code == 503
        assert emu.control.faults()[0]["fired"] == 1


def test_invalid_rules_are_refused(emu: EmulatorServer) -> None:
    for rule in (
        {"endpoint": "nowhere", "code": 1},
        {"endpoint": "state"},
        {"endpoint": "state", "code": 1, "drop_after_bytes": 5},
    ):
        with pytest.raises(EmulatorControlError):
            emu.control.add_faults([rule])
    assert emu.control.faults() == []


def test_a_client_hanging_up_mid_stream_still_gets_its_edit(
    emu: EmulatorServer, nemo: Nemo, project: str, caplog: pytest.LogCaptureFixture
) -> None:
    emu.control.set(turn_seconds=0.5)
    with nemo.http.stream("POST", "/run_sse", json=nemo.turn_body(project, "go")) as response:
        for line in response.iter_lines():
            if "functionCall" in line:
                break
    wait_until(lambda: nemo.state(project)["draft"]["t"])
    wait_until(lambda: emu.control.journal("run_sse")[0]["aborted"])
    assert nemo.credits()["total"] == 50
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_client_hanging_up_mid_upload_stores_nothing(
    emu: EmulatorServer, nemo: Nemo, caplog: pytest.LogCaptureFixture
) -> None:
    token = nemo.token()
    sid = nemo.session()
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="cut.mp4"\r\n\r\n'
    ).encode()
    host, port = emu.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        request = (
            f"POST /api/upload-video/nemo_agent/me/{sid} HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
        ).encode()
        sock.sendall(request + head + b"\0" * 600_000)
        wait_until(
            lambda: (
                (r := emu.control.journal("upload"))
                and r[0]["body"]["files"]
                and r[0]["body"]["files"][0]["size"] > 0
            )
        )
    (record,) = wait_until(
        lambda: [r for r in emu.control.journal("upload") if r["finished_at"] is not None]
    )
    assert record["aborted"] is True
    assert 0 < record["body"]["files"][0]["size"] <= 600_000
    assert nemo.state(sid)["video_infos"] == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
