"""Write-open detection: a read lease is refused while another program writes the file."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nemowatch.config import WatchSettings
from nemowatch.doctor_checks import Mount, check_inbox_filesystem
from nemowatch.watch import lease
from nemowatch.watch.files import WRITER_RECHECK_SECONDS, observe
from nemowatch.watch.inbox import Inbox
from nemowatch.watch.lease import held_for_writing, ignore_lease_breaks, leases_work_in
from nemowatch.watch.rules import WRITING, Entries, plan

#: a writer in another process: opens the file for appending, says so, waits on stdin
WRITER = "import sys; f = open(sys.argv[1], 'ab'); print('open', flush=True); sys.stdin.read()"


class Writer:
    """Another process holding `path` open for writing until `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        assert self._proc.stdout.readline() == b"open\n"

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
            assert self._proc.stdout is not None
            self._proc.stdout.close()
            self._proc.wait(timeout=10)


@pytest.fixture
def writers() -> Iterator[Callable[[Path], Writer]]:
    """Start writers on files; every one is closed at the end of the test."""
    started: list[Writer] = []

    def start(path: Path) -> Writer:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"half of it")
        started.append(Writer(path))
        return started[-1]

    yield start
    for writer in started:
        writer.close()


@pytest.fixture
def writer(tmp_path: Path, writers: Callable[[Path], Writer]) -> Path:
    """A file held open for writing by another process until the test ends."""
    return writers(tmp_path / "clip.mp4").path


def test_a_file_open_for_writing_in_another_process_is_held(writer: Path) -> None:
    assert held_for_writing(writer) is True


def test_a_closed_file_is_not_held(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"all of it")
    assert held_for_writing(path) is False
    assert held_for_writing(path) is False, "the lease was released: it can be taken again"


def test_once_the_writer_closes_the_file_is_no_longer_held(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with path.open("wb") as f:
        f.write(b"x")
        # our own writer counts too: the kernel refuses any lease while it is open
        assert held_for_writing(path) is True
    assert held_for_writing(path) is False


def test_a_reader_does_not_count_as_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x")
    with path.open("rb"):
        assert held_for_writing(path) is False


def test_a_fifo_is_opened_without_blocking_and_is_unknown(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    assert held_for_writing(fifo) is None  # no writer needed: O_NONBLOCK


def test_a_directory_is_unknown(tmp_path: Path) -> None:
    assert held_for_writing(tmp_path) is None


def test_a_symlink_is_not_followed(writer: Path) -> None:
    link = writer.with_name("link.mp4")
    link.symlink_to(writer)
    assert held_for_writing(link) is None  # the target is held; the link is not looked through


def test_a_missing_file_is_unknown(tmp_path: Path) -> None:
    assert held_for_writing(tmp_path / "gone.mp4") is None


@pytest.mark.parametrize("code", [errno.EACCES, errno.EINVAL, errno.ENOLCK])
def test_where_leases_are_refused_the_answer_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    # Refusals a root test cannot provoke on a local disk (another owner without
    # CAP_LEASE, a network filesystem): the mapping of the errno is what is tested.
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x")

    def refuse(fd: int, cmd: int, arg: int = 0) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "fcntl", refuse)
    assert held_for_writing(path) is None
    assert leases_work_in(tmp_path) is False


def test_leases_work_in_a_local_folder_and_leave_nothing_behind(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    assert leases_work_in(inbox) is True
    assert list(inbox.iterdir()) == []
    assert leases_work_in(tmp_path / "missing") is None


def test_sigio_is_ignored_before_the_first_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signal, "getsignal", lambda _: signal.SIG_DFL)
    installed: list[object] = []
    monkeypatch.setattr(signal, "signal", lambda sig, handler: installed.append((sig, handler)))
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x")
    assert held_for_writing(path) is False
    assert installed and installed[0] == (signal.SIGIO, signal.SIG_IGN)


def test_off_the_main_thread_with_sigio_not_ignored_no_lease_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signal, "getsignal", lambda _: signal.SIG_DFL)
    monkeypatch.setattr(lease.threading, "main_thread", lambda: None)
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x")
    assert ignore_lease_breaks() is False
    assert held_for_writing(path) is None


def test_a_lease_break_does_not_end_the_process(tmp_path: Path) -> None:
    # A child takes a lease and opens the file for writing itself, which breaks
    # the lease: with SIGIO ignored it lives on (default action: terminate).
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x")
    script = (
        "import fcntl, os, sys, threading\n"
        "from nemowatch.watch.lease import ignore_lease_breaks\n"
        "assert ignore_lease_breaks()\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)\n"
        "t = threading.Thread(target=lambda: os.close(os.open(sys.argv[1], os.O_WRONLY)))\n"
        "t.start()\n"
        "import time; time.sleep(0.2)\n"
        "fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)\n"
        "t.join(); os.close(fd); print('alive')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"alive\n"


# -- the inbox: a file open for writing is never ready -------------------------------

SETTINGS = WatchSettings(settle_seconds=2, pair_wait_seconds=5)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_settled_pair_whose_video_is_open_for_writing_waits(
    tmp_path: Path, writers: Callable[[Path], Writer]
) -> None:
    inbox_dir, clock = tmp_path / "inbox", Clock()
    (inbox_dir / "clip.txt").parent.mkdir()
    (inbox_dir / "clip.txt").write_text("Cut the pauses")
    copier = writers(inbox_dir / "clip.mp4")
    inbox = Inbox(inbox_dir, inbox_dir / ".nemowatch", SETTINGS, clock)
    inbox.scan()
    clock.now += 10  # long settled by time: the copier only paused
    waiting = inbox.plan()
    assert waiting.ready == []
    assert {w.path.name: w.reason for w in waiting.waiting} == {
        "clip.mp4": WRITING,
        "clip.txt": "waiting for clip.mp4 (still being written)",
    }
    assert waiting.wake_at == clock.now + WRITER_RECHECK_SECONDS
    clock.now += WRITER_RECHECK_SECONDS
    assert inbox.plan().ready == [], "asked again after the recheck time: still open"

    copier.close()
    inbox.note(inbox_dir / "clip.mp4", closed=True)  # a close asks again at once
    (job,) = inbox.plan().ready
    size = (inbox_dir / "clip.mp4").stat()
    assert (inbox_dir / "clip.mp4", size.st_size, size.st_mtime_ns) in job.seen_as


def test_a_bundle_with_a_file_open_for_writing_waits(
    tmp_path: Path, writers: Callable[[Path], Writer]
) -> None:
    inbox_dir, clock = tmp_path / "inbox", Clock()
    (inbox_dir / "Trip").mkdir(parents=True)
    (inbox_dir / "Trip" / "notes.txt").write_text("Cut them together")
    (inbox_dir / "Trip" / "a.mp4").write_bytes(b"all of it")
    copier = writers(inbox_dir / "Trip" / "b.mp4")
    inbox = Inbox(inbox_dir, inbox_dir / ".nemowatch", SETTINGS, clock)
    inbox.scan()
    clock.now += 10
    result = inbox.plan()
    assert result.ready == []
    (waiting,) = result.waiting
    assert waiting.reason == (
        "folder still being written (b.mp4 is open for writing by another program)"
    )
    copier.close()
    clock.now += WRITER_RECHECK_SECONDS  # no close event (a polling observer): time asks again
    (job,) = inbox.plan().ready
    assert job.folder == inbox_dir / "Trip"
    assert {path.name for path, _, _ in job.seen_as} == {"a.mp4", "b.mp4", "notes.txt"}


def test_a_file_of_unknown_state_is_decided_by_the_settle_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox_dir, clock = tmp_path / "inbox", Clock()
    inbox_dir.mkdir()
    (inbox_dir / "clip.txt").write_text("Cut the pauses")
    (inbox_dir / "clip.mp4").write_bytes(b"video")
    monkeypatch.setattr("nemowatch.watch.inbox.held_for_writing", lambda _: None)
    inbox = Inbox(inbox_dir, inbox_dir / ".nemowatch", SETTINGS, clock)
    inbox.scan()
    clock.now += 2
    (job,) = inbox.plan().ready
    assert job.name == "clip"


def test_the_rules_hold_a_file_found_open_until_it_is_asked_again() -> None:
    base = Path("/inbox")
    video = observe(None, base / "a.mp4", 10, 5, now=0.0)
    txt = observe(None, base / "a.txt", 3, 5, now=0.0)
    held = dataclasses.replace(observe(video, video.path, 10, 5, now=4.0), writing_at=4.0)
    result = plan(Entries([held, txt]), 4.5, SETTINGS)
    assert result.ready == [] and result.wake_at == 4.0 + WRITER_RECHECK_SECONDS
    assert plan(Entries([held, txt]), 5.0, SETTINGS).ready, "due to be asked again"
    closed = observe(held, held.path, 10, 5, now=4.6, closed=True)
    assert closed.writing_at is None and closed.changed_at == 0.0


# -- doctor: does write-open detection work on the inbox's filesystem? ----------------

EXT4 = [Mount("/", "ext4", "/dev/sda1")]


def test_doctor_says_files_still_being_written_are_detected(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    found = check_inbox_filesystem(inbox, False, EXT4, leases_work_in)
    assert found.level == "ok"
    assert found.detail.endswith("; files still being written are detected (kernel leases)")
    assert list(inbox.iterdir()) == [], "its test file is removed"


def test_doctor_warns_where_leases_are_not_available(tmp_path: Path) -> None:
    found = check_inbox_filesystem(tmp_path, False, EXT4, lambda _: False)
    assert found.level == "warning"
    assert found.detail.endswith(
        "; leases not available here: the settle time alone decides when a file is complete"
    )
    assert "watch.settle_seconds" in found.advice


def test_doctor_keeps_the_network_advice_beside_the_lease_warning(tmp_path: Path) -> None:
    nfs = [Mount("/", "nfs4", "srv:/")]
    found = check_inbox_filesystem(tmp_path, False, nfs, lambda _: False)
    assert found.level == "warning"
    assert "polling = true" in found.advice and "watch.settle_seconds" in found.advice


def test_doctor_cannot_check_an_inbox_that_does_not_exist_yet(tmp_path: Path) -> None:
    found = check_inbox_filesystem(tmp_path / "inbox", False, EXT4, leases_work_in)
    assert found.level == "ok" and "write detection not checked" in found.detail
