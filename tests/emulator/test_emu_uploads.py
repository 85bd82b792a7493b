"""Uploads: multipart (streamed), several files, 4001, 4002, the URL form, durations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from emukit import Nemo

from nemowatch.emulator import EmulatorServer


def test_one_file_upload_reports_size_duration_and_type(
    nemo: Nemo, emu_video: Path, emu: EmulatorServer
) -> None:
    nemo.token()
    sid = nemo.session()
    body = nemo.upload(sid, emu_video).json()
    assert body["code"] == 0
    (info,) = body["data"]["files"]
    assert info["name"] == "city.mp4"
    assert info["size"] == emu_video.stat().st_size
    assert info["type"] == "video"
    assert 1400 <= info["duration_ms"] <= 1600
    assert info["media_id"]
    (infos,) = nemo.state(sid)["video_infos"]
    assert infos["name"] == "city.mp4" and infos["duration_ms"] == info["duration_ms"]
    assert infos["size"] == emu_video.stat().st_size


def test_several_files_in_one_upload(nemo: Nemo, emu_video: Path, tmp_path: Path) -> None:
    second = shutil.copyfile(emu_video, tmp_path / "SECOND.MOV")
    music = tmp_path / "song.mp3"
    music.write_bytes(b"not really mp3")
    picture = tmp_path / "logo.png"
    picture.write_bytes(b"\x89PNG fake")
    nemo.token()
    sid = nemo.session()
    files = nemo.upload(sid, emu_video, second, music, picture).json()["data"]["files"]
    assert [(f["name"], f["type"]) for f in files] == [
        ("city.mp4", "video"),
        ("SECOND.MOV", "video"),
        ("song.mp3", "audio"),
        ("logo.png", "image"),
    ]
    assert files[2]["duration_ms"] == 10_000  # ffmpeg cannot tell: the default
    assert files[3]["duration_ms"] == 3_000  # images show for 3 s
    assert len(nemo.state(sid)["video_infos"]) == 4


@pytest.mark.parametrize("name", ["notes.txt", "clip.flv", "noextension"])
def test_an_unsupported_type_answers_4001(nemo: Nemo, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"x" * 1000)
    nemo.token()
    sid = nemo.session()
    body = nemo.upload(sid, path).json()
    assert body["code"] == 4001
    assert nemo.state(sid)["video_infos"] == []


def test_a_file_over_the_limit_answers_4002_while_streaming(
    emu: EmulatorServer, nemo: Nemo, tmp_path: Path, emu_video: Path
) -> None:
    emu.control.set(max_upload_mb=2)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (3 * 1024 * 1024 - 200_000))  # under 2 MiB + framing, over 2 MiB
    nemo.token()
    sid = nemo.session()
    body = nemo.upload(sid, emu_video, big).json()
    assert body["code"] == 4002
    assert nemo.state(sid)["video_infos"] == []  # all or nothing
    assert nemo.upload(sid, emu_video).json()["code"] == 0  # the connection is still usable


def test_a_request_too_large_is_refused_from_its_content_length(
    emu: EmulatorServer, nemo: Nemo, tmp_path: Path
) -> None:
    emu.control.set(max_upload_mb=1)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (3 * 1024 * 1024))
    nemo.token()
    sid = nemo.session()
    assert nemo.upload(sid, big).json()["code"] == 4002
    (record,) = emu.control.journal("upload")
    assert record["body"] is None  # refused before reading the body


def test_without_ffmpeg_durations_fall_back_to_defaults(
    emu: EmulatorServer, nemo: Nemo, emu_video: Path
) -> None:
    emu.control.set(use_ffmpeg=False, default_media_seconds=7)
    nemo.token()
    sid = nemo.session()
    (info,) = nemo.upload(sid, emu_video).json()["data"]["files"]
    assert info["duration_ms"] == 7000


def test_the_journal_summarises_the_multipart_body(
    emu: EmulatorServer, nemo: Nemo, emu_video: Path
) -> None:
    nemo.token()
    sid = nemo.session()
    nemo.upload(sid, emu_video)
    (record,) = emu.control.journal("upload")
    assert record["body"] == {
        "files": [{"field": "files", "name": "city.mp4", "size": emu_video.stat().st_size}]
    }
    assert record["started_at"] <= record["first_byte_at"] <= record["finished_at"]
    assert record["status"] == 200 and record["code"] == 0
