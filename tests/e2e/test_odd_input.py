"""Odd input kept honest, with the real daemon where it matters.

- a video named on a Mac (NFD) pairs with its `.txt` named on Linux (NFC),
  and the originals keep the names they came with;
- a configuration that would loop (`inbox = outbox`) stops `run` with exit 2,
  and a reload to such a file is refused with every reason while the daemon
  carries on;
- a job whose journal is damaged is never hidden: `status` shows it as needing
  attention, stopped or running, and the daemon moves its files to the failed
  folder with the reason (never resuming what it cannot read);
- a media file that cannot be read fails before a session is created, named as
  the user knows it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import unicodedata
from pathlib import Path

import pytest
import tomli_w

from devkit.daemon import Daemon, unwrap
from devkit.waits import wait_for
from nemowatch.config import JobSettings, WatchSettings
from nemowatch.errors import InputError
from nemowatch.jobs.checks import check_media, inbox_names
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job
from nemowatch.watch.files import Seen
from nemowatch.watch.rules import Entries, plan

CAFE_NFD = unicodedata.normalize("NFD", "café")
CAFE_NFC = unicodedata.normalize("NFC", "café")
JOB_ID = "20250101-101010-clip-3f9a0c"


def status(daemon: Daemon) -> str:
    done: subprocess.CompletedProcess[str] = daemon.cli("status")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 3), done.stderr  # 3: no daemon runs, as systemctl says
    return unwrap(done.stdout)


def write_config(daemon: Daemon, **sections: dict[str, object]) -> None:
    settings = {name: dict(values) for name, values in daemon.settings.items()}
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    daemon.config.write_text(tomli_w.dumps(settings))


# -- names from a Mac ------------------------------------------------------------------


def test_the_rules_pair_an_nfd_video_with_an_nfc_txt_and_ask_for_nothing() -> None:
    video = Seen(Path("/in") / f"{CAFE_NFD}.mp4", 10, 1, 0.0, 0.0)
    note = Seen(Path("/in") / f"{CAFE_NFC}.TXT", 10, 1, 0.0, 0.0)
    found = plan(Entries([video, note]), 100.0, WatchSettings())
    (ready,) = found.ready
    assert found.waiting == []
    assert ready.media == (video.path,) and ready.instructions == note.path  # paths untouched


def test_an_nfd_video_and_an_nfc_txt_are_paired_and_delivered_after_a_refused_reload(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.start()
    good = daemon.config.read_text()
    write_config(daemon, folders={"outbox": str(daemon.inbox)}, jobs={"max_parallel": 0})
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload rejected" in daemon.log_text(), 10, "the reload to be refused")
    rejected = daemon.log_text().split("reload rejected", 1)[1]
    assert "folders.inbox" in rejected and "folders.outbox" in rejected
    assert "jobs.max_parallel" in rejected
    daemon.config.write_text(good)

    daemon.note(f"{CAFE_NFC}.txt", "Add a title")
    daemon.drop(sample_video, f"{CAFE_NFD}.mp4")
    (result,) = wait_for(daemon.outputs, 40, "the result")
    assert unicodedata.normalize("NFC", result.stem) == CAFE_NFC
    archive = daemon.outbox / "originals"  # the originals follow the result
    (archived,) = wait_for(lambda: archive.is_dir() and list(archive.iterdir()), 20, "archive")
    wait_for(lambda: len(list(archived.iterdir())) == 2, 20, "both originals archived")
    assert sorted(p.name for p in archived.iterdir()) == sorted(
        [f"{CAFE_NFD}.mp4", f"{CAFE_NFC}.txt"]  # the names they came with
    )
    assert "waiting for instructions" not in daemon.log_text()
    assert daemon.stop() == 0


# -- a configuration that would loop -----------------------------------------------------


def test_run_with_the_inbox_as_outbox_exits_2_naming_the_problem(daemon: Daemon) -> None:
    write_config(daemon, folders={"outbox": str(daemon.inbox)})
    done = daemon.cli("run")
    assert done.returncode == 2, done.stderr
    assert "folders.inbox" in done.stderr and "folders.outbox" in done.stderr
    assert "the same folder" in done.stderr and "Traceback" not in done.stderr
    assert not daemon.work.exists()  # nothing was claimed or locked


# -- a damaged journal -------------------------------------------------------------------


def test_a_damaged_journal_needs_attention_and_goes_to_the_failed_folder(
    daemon: Daemon, sample_video: Path
) -> None:
    job = daemon.work / JOB_ID
    (job / "files").mkdir(parents=True)
    shutil.copy(sample_video, job / "files" / "clip.mp4")
    (job / "files" / "clip.txt").write_text("Add a title")
    (job / "job.json").write_text('{"id": "' + JOB_ID + '", "stage": "upl')  # cut short

    stopped = status(daemon)
    assert "nemowatch is not running" in stopped
    assert f"needs attention: {job / 'job.json'}: damaged (" in stopped, stopped

    daemon.start()
    wait_for((daemon.failed / "clip" / "error.txt").exists, 20, "the job in the failed folder")
    first = daemon.error_of("clip").splitlines()[0]
    assert first.startswith("This job needs attention: its journal job.json cannot be read")
    assert "damaged (" in first
    assert sorted(p.name for p in (daemon.failed / "clip").iterdir()) == [
        "clip.mp4",
        "clip.txt",
        "error.txt",
        "job.json",  # as it was: `retry` refuses to guess what it paid
    ]
    assert not job.exists()
    running = status(daemon)
    assert "clip: This job needs attention" in running, running
    assert not daemon.calls("session")  # what it paid is unknown: never resumed
    assert daemon.stop() == 0


# -- media that cannot be read -------------------------------------------------------------


def test_a_media_file_that_cannot_be_read_fails_before_a_session(daemon: Daemon) -> None:
    # As root every permission passes, so the claimed "video" is a folder: lstat works,
    # and the upload could never read it.
    folder = JobFolder(daemon.work / JOB_ID)
    (folder.files / "clip.mp4").mkdir(parents=True)
    (folder.files / "clip.txt").write_text("Add a title")
    origins = {name: str(daemon.inbox / name) for name in ("clip.mp4", "clip.txt")}
    folder.save(
        Job(
            id=JOB_ID,
            name="clip",
            kind="pair",
            media=["clip.mp4"],
            instructions_file="clip.txt",
            origins=origins,
        )
    )
    daemon.start()
    wait_for((daemon.failed / "clip" / "error.txt").exists, 20, "the job to fail")
    error = daemon.error_of("clip")
    assert "clip.mp4" in error.splitlines()[0]
    assert str(daemon.work) not in error  # nobody put a file there
    assert not daemon.calls("session") and not daemon.calls("upload")
    assert daemon.stop() == 0


def test_check_media_names_the_file_as_the_user_knows_it(tmp_path: Path) -> None:
    claimed = tmp_path / "work" / JOB_ID / "files"
    claimed.mkdir(parents=True)
    (claimed / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    job = Job(
        id=JOB_ID,
        name="holiday",
        kind="bundle",
        media=["gone.mp4"],
        origins={"": "/home/me/NemoInbox/holiday"},
    )
    with pytest.raises(InputError) as caught:
        check_media([claimed / "gone.mp4"], JobSettings(), inbox_names(job))
    assert str(caught.value).startswith("/home/me/NemoInbox/holiday/gone.mp4 is not a regular")
    with pytest.raises(InputError, match=r"^missing\.mp4 cannot be read \(No such file"):
        check_media([claimed / "missing.mp4"], JobSettings())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_check_media_refuses_a_file_it_may_not_open(tmp_path: Path) -> None:
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(b"\0\0\0\x18ftypmp42")
    locked.chmod(0)
    with pytest.raises(InputError, match=r"^/in/locked\.mp4 cannot be read \(Permission denied"):
        check_media([locked], JobSettings(), {"locked.mp4": "/in/locked.mp4"})
