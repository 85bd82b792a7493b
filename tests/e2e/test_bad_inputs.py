"""What is checked before anything is uploaded: each bad input ends where it should.

A job that cannot work fails at once, before any upload, into
`<failed>/NAME/` with its original files and an error.txt whose first line
says in one sentence what is wrong with which file. Entries that must not be
touched (a FIFO) wait, visibly, and block nothing. The daemon survives them all.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devkit.daemon import Daemon
from devkit.waits import wait_for

VIDEO = "<the sample video>"
TEXT = b"Trim the silences and add a title"


def put(daemon: Daemon, files: dict[str, bytes | str], video: Path) -> None:
    """Drop each file: the sample video where the value says so, else the bytes given."""
    for name, content in files.items():
        if content == VIDEO:
            daemon.drop(video, name)
        else:
            daemon.note(name, content)


def failed_job(daemon: Daemon, name: str, timeout: float = 20) -> list[str]:
    """error.txt's lines once `<failed>/NAME/` is complete."""
    error = daemon.failed / name / "error.txt"
    wait_for(error.exists, timeout, f"{name} to fail")
    return daemon.error_of(name).splitlines()


def assert_plain_sentence(line: str, *words: str) -> None:
    """One sentence a person understands, naming the file or the problem."""
    assert line.strip() == line and line, repr(line)
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"
    for machine in ("Traceback", "Error:", "Error(", "errno", "{", "None"):
        assert machine not in line, f"{machine!r} in {line!r}"
    assert len(line) < 300, line


def assert_nothing_sent(daemon: Daemon) -> None:
    for endpoint in ("session", "upload", "run_sse", "render_submit"):
        assert daemon.calls(endpoint) == [], endpoint


CASES: list[tuple[str, dict[str, Any], dict[str, bytes | str], str, tuple[str, ...]]] = [
    (
        "unsupported type",
        {},
        {"clip.xyz": VIDEO, "clip.txt": TEXT},
        "clip",
        ("clip.xyz", "not a type"),
    ),
    (
        "over jobs.max_file_mb",
        {"jobs": {"max_file_mb": 0.01}},
        {"big.mp4": VIDEO, "big.txt": TEXT},
        "big",
        ("big.mp4", "0.01 MB", "compress or trim"),
    ),
    ("zero-byte video", {}, {"zero.mp4": b"", "zero.txt": TEXT}, "zero", ("zero.mp4", "empty")),
    ("empty instructions", {}, {"blank.mp4": VIDEO, "blank.txt": b""}, "blank", ("blank.txt",)),
    (
        "whitespace-only instructions",
        {},
        {"spaces.mp4": VIDEO, "spaces.txt": b"  \n\t \r\n  \n"},
        "spaces",
        ("spaces.txt", "empty"),
    ),
    (
        "instructions not UTF-8",
        {},
        {"garbled.mp4": VIDEO, "garbled.txt": b"\xff\xfe bad"},
        "garbled",
        ("garbled.txt", "UTF-8"),
    ),
    (
        "instructions over 64 KB",
        {},
        {"essay.mp4": VIDEO, "essay.txt": b"Cut the boring parts. " * 3200},
        "essay",
        ("essay.txt", "64 KB"),
    ),
    (
        "two videos for one .txt",
        {},
        {"a.mp4": VIDEO, "a.mov": VIDEO, "a.txt": TEXT},
        "a",
        ("a.mp4", "a.mov", "a.txt"),
    ),
    ("a lone .mp3", {}, {"song.mp3": VIDEO}, "song", ("song.mp3", "audio")),
]


@pytest.mark.parametrize(
    ("overrides", "files", "name", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_bad_input_fails_before_upload_with_its_own_reason(
    make_daemon: Callable[..., Daemon],
    sample_video: Path,
    overrides: dict[str, Any],
    files: dict[str, bytes | str],
    name: str,
    words: tuple[str, ...],
) -> None:
    daemon = make_daemon(**overrides).start()
    put(daemon, files, sample_video)
    lines = failed_job(daemon, name)
    assert daemon.running(), "the daemon survives a bad input"
    assert daemon.stop() == 0

    folder = daemon.failed / name
    assert {p.name for p in folder.iterdir()} >= {*files, "error.txt", "job.log"}
    for original, content in files.items():
        kept = (folder / original).read_bytes()
        assert kept == (sample_video.read_bytes() if content == VIDEO else content), original
    assert_plain_sentence(lines[0], *words)
    assert "Stage: claimed" in lines, lines
    assert any(line.startswith("What to do: ") for line in lines), lines
    assert_nothing_sent(daemon)
    assert [p.name for p in daemon.inbox.iterdir()] == [".nemowatch"]
    assert daemon.work_jobs() == [] and daemon.outputs() == []
    assert [p.name for p in daemon.failures()] == [name]


def test_a_too_large_files_reason_does_not_contradict_itself(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    """`big.mp4 is 0 MB, over the 0.01 MB limit` would tell a person nothing."""
    daemon = make_daemon(jobs={"max_file_mb": 0.01}).start()
    put(daemon, {"big.mp4": VIDEO, "big.txt": TEXT}, sample_video)
    first = failed_job(daemon, "big")[0]
    assert daemon.stop() == 0
    assert " is 0 MB" not in first, first


def test_a_link_to_a_file_outside_the_inbox_fails_and_is_never_read(
    daemon: Daemon, sample_video: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    secret = daemon.drop(sample_video, "secret.mp4", folder=outside)
    daemon.start()
    os.symlink(secret, daemon.inbox / "link.mp4")
    daemon.note("link.txt", TEXT)
    lines = failed_job(daemon, "link")
    assert daemon.stop() == 0

    # The rules decided: the job fails with the reason; the link itself moves, never its target.
    assert_plain_sentence(lines[0], "link.mp4", "outside the inbox")
    moved = daemon.failed / "link" / "link.mp4"
    assert moved.is_symlink() and os.readlink(moved) == str(secret)
    assert secret.read_bytes() == sample_video.read_bytes()
    assert (daemon.failed / "link" / "link.txt").read_bytes() == TEXT
    assert_nothing_sent(daemon)
    assert [p.name for p in daemon.inbox.iterdir()] == [".nemowatch"]


def test_a_fifo_waits_visibly_and_blocks_nothing(daemon: Daemon, sample_video: Path) -> None:
    daemon.start()
    fifo = daemon.inbox / "stream.mp4"  # a video's name, to tempt the daemon into reading it
    os.mkfifo(fifo)

    def fifo_waiting() -> str | None:
        entries = daemon.status().get("waiting", [])
        return next((w["reason"] for w in entries if w["path"] == str(fifo)), None)

    reason = wait_for(fifo_waiting, 15, "the FIFO listed as waiting")
    assert "not a regular file" in reason, reason
    put(daemon, {"after.txt": TEXT, "after.mp4": VIDEO}, sample_video)
    wait_for((daemon.outbox / "after.mp4").exists, 40, "the next job delivered")
    assert fifo_waiting(), "still listed as waiting"
    assert daemon.stop() == 0

    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was left where it is"
    assert daemon.failures() == []
    (upload,) = daemon.calls("upload")
    assert [f["name"] for f in upload["body"]["files"]] == ["after.mp4"]


def test_instructions_with_a_utf8_bom_are_delivered(daemon: Daemon, sample_video: Path) -> None:
    daemon.start()
    put(daemon, {"bom.txt": codecs.BOM_UTF8 + TEXT, "bom.mp4": VIDEO}, sample_video)
    wait_for((daemon.outbox / "bom.mp4").exists, 40, "the result")
    assert daemon.stop() == 0
    (turn,) = daemon.calls("run_sse")
    assert turn["body"]["new_message"]["parts"][0]["text"] == TEXT.decode()
    assert daemon.failures() == []
