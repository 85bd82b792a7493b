"""How work arrives: turns, bundles, late instructions, renames, slow copies."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from devkit.daemon import Daemon
from devkit.waits import wait_for


def delivered(daemon: Daemon, count: int = 1, timeout: float = 40) -> list[Path]:
    return wait_for(lambda: len(daemon.outputs()) >= count and daemon.outputs(), timeout, "results")


def test_a_silent_turn_is_verified_through_the_state(daemon: Daemon, sample_video: Path) -> None:
    daemon.emulator.control.set(force_silent=True)
    daemon.start()
    daemon.note("quiet.txt", "Tighten the cuts")
    daemon.drop(sample_video, "quiet.mp4")
    delivered(daemon)
    assert daemon.stop() == 0
    assert "turn 1 of 1 silent; the change was verified" in daemon.log_text()
    report = (daemon.outbox / "quiet.report.txt").read_text()
    assert "(no text; the change was verified in the project)" in report


def test_two_turns_are_sent_one_after_the_other(daemon: Daemon, sample_video: Path) -> None:
    daemon.start()
    daemon.note("talk.txt", "Make a rough cut\n---\nNow add a title and music\n")
    daemon.drop(sample_video, "talk.mp4")
    delivered(daemon)
    assert daemon.stop() == 0
    sent = [c["body"]["new_message"]["parts"][0]["text"] for c in daemon.calls("run_sse")]
    assert sent == ["Make a rough cut", "Now add a title and music"]
    first, second = daemon.calls("run_sse")
    assert second["started_at"] >= first["finished_at"], "turn 2 waits for turn 1 to finish"


def test_a_bundle_of_a_video_and_an_mp3_goes_into_one_session(
    daemon: Daemon, sample_video: Path, tmp_path: Path
) -> None:
    daemon.start()
    staging = tmp_path / "Trip"
    staging.mkdir()
    shutil.copyfile(sample_video, staging / "clip.mp4")
    shutil.copyfile(sample_video, staging / "song.mp3")  # accepted by its extension
    (staging / "notes.txt").write_text("Cut the clips together and add my music")
    os.rename(staging, daemon.inbox / "Trip")  # a folder moved in whole
    (result,) = delivered(daemon)
    assert daemon.stop() == 0
    assert result.name == "Trip.mp4"
    (upload,) = daemon.calls("upload")
    assert sorted(f["name"] for f in upload["body"]["files"]) == ["clip.mp4", "song.mp3"]
    assert len({c["path"].rsplit("/", 1)[-1] for c in daemon.calls("upload")}) == 1


def test_a_video_whose_instructions_arrive_later_waits_for_them(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.start()
    daemon.drop(sample_video, "later.mp4")
    wait_for(
        lambda: any("later.mp4" in w["path"] for w in daemon.status()["waiting"]),
        10,
        "the video to be listed as waiting",
    )
    assert not daemon.calls("upload")
    daemon.note("later.txt", "Add a title")
    delivered(daemon)
    assert daemon.stop() == 0


def test_files_that_arrive_by_rename_are_picked_up(daemon: Daemon, sample_video: Path) -> None:
    daemon.start()
    daemon.note("moved.txt", "Add a title")
    part = daemon.drop(sample_video, "moved.mp4.part")  # an rsync-style temporary name
    part.rename(daemon.inbox / "moved.mp4")
    (result,) = delivered(daemon)
    assert result.name == "moved.mp4"
    assert daemon.stop() == 0


def test_a_file_written_slowly_is_uploaded_only_after_its_last_byte(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(watch={"settle_seconds": 1.0})
    daemon.start()
    daemon.note("slow.txt", "Add a title")
    head = sample_video.read_bytes()
    chunk = os.urandom(1024 * 1024)
    target = daemon.inbox / "slow.mp4"
    with target.open("wb") as f:
        f.write(head)
        for _ in range(30):  # about 30 MB over about 6 s, a write every 0.2 s
            f.write(chunk)
            f.flush()
            time.sleep(0.2)
    last_byte_at = time.time()
    final_size = target.stat().st_size
    delivered(daemon)
    (upload,) = daemon.calls("upload")
    assert upload["first_byte_at"] >= last_byte_at
    assert upload["body"]["files"][0]["size"] == final_size
    assert daemon.stop() == 0


def test_files_already_in_the_inbox_at_startup_are_found(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.note("early.txt", "Add a title")
    daemon.drop(sample_video, "early.mp4")
    daemon.start()
    (result,) = delivered(daemon)
    assert result.name == "early.mp4"
    assert daemon.stop() == 0


def test_the_polling_observer_delivers_too(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(watch={"polling": True, "rescan_seconds": 60})
    daemon.start()
    daemon.note("polled.txt", "Add a title")
    daemon.drop(sample_video, "polled.mp4")
    (result,) = delivered(daemon)
    assert result.name == "polled.mp4"
    assert daemon.stop() == 0
