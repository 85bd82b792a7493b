"""Renders: the lifecycle, where the status is reported, the output file, the rules."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from emukit import Nemo, wait_until

from nemowatch.emulator import (
    EMPTY_DRAFT,
    RENDER_NOT_FOUND,
    RENDER_NOT_READY,
    RENDER_RUNNING,
    EmulatorServer,
)


def is_mp4(data: bytes) -> bool:
    return data[4:8] == b"ftyp"


def test_a_render_goes_pending_processing_completed(
    emu: EmulatorServer, nemo: Nemo, edited: str
) -> None:
    emu.control.set(render_seconds=0.6)
    submitted = nemo.submit(edited, "render_1").json()
    assert submitted["code"] == 0 and submitted["status"] == "pending"
    seen: list[tuple[str, int]] = []
    final = wait_until(
        lambda: (
            seen.append(((b := nemo.poll("render_1"))["status"], b["progress"]))
            or (b["status"] == "completed" and b)
        ),
        timeout=10,
        step=0.01,
    )
    statuses = [status for status, _ in seen]
    assert set(statuses) <= {"pending", "processing", "completed"}
    assert "pending" not in statuses[statuses.index("processing") :]
    assert statuses.index("processing") < statuses.index("completed")
    progress = [p for status, p in seen if status == "processing"]
    assert progress == sorted(progress) and all(0 < p < 100 for p in progress)
    assert final["progress"] == 100
    assert final["output"]["url"].startswith(emu.url + "/_files/renders/render_1.mp4?sig=")
    (listed,) = emu.control.renders()
    assert listed["status"] == "completed"
    assert listed["completed_at"] <= time.time()


@pytest.mark.parametrize("place", ["top", "data", "both"])
def test_the_status_is_reported_where_the_knob_says(
    emu: EmulatorServer, nemo: Nemo, edited: str, place: str
) -> None:
    emu.control.set(render_status_place=place)
    nemo.submit(edited, "render_1")
    body = wait_until(
        lambda: (
            (b := nemo.poll("render_1")).get("status", b["data"].get("status")) == "completed" and b
        )
    )
    assert ("status" in body) == (place in ("top", "both"))
    assert ("status" in body["data"]) == (place in ("data", "both"))
    holder = body if place != "data" else body["data"]
    assert holder["output"]["url"]
    assert body["code"] == 0 and body["data"]["id"] == "render_1"


def test_the_output_url_and_the_fallback_serve_the_same_real_mp4(
    emu: EmulatorServer, nemo: Nemo, edited: str
) -> None:
    nemo.submit(edited, "render_1")
    url = nemo.wait_render("render_1")["output"]["url"]
    direct = httpx.get(url)  # a signed link: no Authorization
    assert direct.status_code == 200
    assert int(direct.headers["content-length"]) == len(direct.content) > 1000
    assert is_mp4(direct.content)
    fallback = nemo.http.get("/api/render/proxy/render_1/download")
    assert fallback.status_code == 200
    assert fallback.headers["content-length"] == direct.headers["content-length"]
    assert fallback.content == direct.content
    assert httpx.get(url.split("?")[0] + "?sig=forged").status_code == 403
    no_token = httpx.get(emu.url + "/api/render/proxy/render_1/download")
    assert no_token.json()["code"] == 1001


def test_the_render_is_the_upload_transcoded_to_h264(nemo: Nemo, edited: str) -> None:
    nemo.submit(edited, "render_1")
    data = httpx.get(nemo.wait_render("render_1")["output"]["url"]).content
    assert b"avc1" in data[:200_000]
    assert b"mp4a" in data[:200_000]


def test_without_transcoding_the_render_is_the_uploaded_bytes(
    emu: EmulatorServer, nemo: Nemo, edited: str, emu_video: Path
) -> None:
    emu.control.set(transcode=False)
    nemo.submit(edited, "render_1")
    data = httpx.get(nemo.wait_render("render_1")["output"]["url"]).content
    assert data == emu_video.read_bytes()


def test_a_render_fault_ends_failed_and_a_new_id_succeeds(
    emu: EmulatorServer, nemo: Nemo, edited: str
) -> None:
    emu.control.add_faults([{"endpoint": "render_submit", "render_fail": True}])
    nemo.submit(edited, "render_1")
    failed = nemo.wait_render("render_1")
    assert failed["status"] == "failed" and failed["error"]
    assert "output" not in failed
    assert nemo.http.get("/api/render/proxy/render_1/download").json()["code"] == RENDER_NOT_READY
    nemo.submit(edited, "render_2")
    assert nemo.wait_render("render_2")["status"] == "completed"


def test_resubmitting_the_same_id_is_idempotent(
    emu: EmulatorServer, nemo: Nemo, edited: str
) -> None:
    first = nemo.submit(edited, "render_1").json()
    again = nemo.submit(edited, "render_1").json()
    assert first["code"] == again["code"] == 0
    assert len(emu.control.renders()) == 1


def test_one_render_per_session_at_a_time(nemo: Nemo, edited: str) -> None:
    nemo.submit(edited, "render_1")
    busy = nemo.submit(edited, "render_2").json()
    assert busy["code"] == RENDER_RUNNING
    nemo.wait_render("render_1")
    assert nemo.submit(edited, "render_2").json()["code"] == 0


def test_an_empty_draft_cannot_be_exported(nemo: Nemo, project: str) -> None:
    assert nemo.submit(project, "render_1").json()["code"] == EMPTY_DRAFT
    empty_track = {"t": [{"tt": 0, "sg": []}]}
    assert nemo.submit(project, "render_1", empty_track).json()["code"] == EMPTY_DRAFT


def test_render_calls_check_their_body_and_ids(nemo: Nemo, edited: str) -> None:
    draft = nemo.state(edited)["draft"]
    snake = {"id": "render_1", "session_id": edited, "draft": draft}
    assert nemo.http.post("/api/render/proxy/lambda", json=snake).status_code == 400
    assert nemo.poll("render_unknown")["code"] == RENDER_NOT_FOUND
    ghost = {"id": "render_1", "sessionId": "ses_gone", "draft": draft}
    assert nemo.http.post("/api/render/proxy/lambda", json=ghost).json()["code"] == 1002


def test_a_download_before_completion_answers_not_ready(
    emu: EmulatorServer, nemo: Nemo, edited: str
) -> None:
    emu.control.set(render_seconds=5)
    nemo.submit(edited, "render_1")
    response = nemo.http.get("/api/render/proxy/render_1/download")
    assert response.json()["code"] == RENDER_NOT_READY


def test_media_ffmpeg_cannot_decode_still_render_a_real_mp4(nemo: Nemo, tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"this is not a video" * 100)
    nemo.token()
    sid = nemo.session()
    nemo.upload(sid, fake)
    nemo.turn(sid)
    nemo.submit(sid, "render_1")
    data = httpx.get(nemo.wait_render("render_1")["output"]["url"]).content
    assert is_mp4(data) and b"avc1" in data[:200_000]
