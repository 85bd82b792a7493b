"""The workflows with a real daemon and the emulator: hot folders, refinements, links."""

from __future__ import annotations

import json
import plistlib
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from devkit.daemon import Daemon, unwrap
from devkit.fileserver import Files
from devkit.waits import wait_for

SHORTS = {"shorts": {"instructions": "Make it vertical 9:16 with burned-in captions."}}


def turn_texts(daemon: Daemon) -> list[str]:
    """The text of every edit turn the emulator received, in order."""
    texts = []
    for call in daemon.calls("run_sse"):
        body = call["body"] if isinstance(call["body"], dict) else json.loads(call["body"])
        texts.append(body["new_message"]["parts"][0]["text"])
    return texts


def sessions_of_turns(daemon: Daemon) -> list[str]:
    out = []
    for call in daemon.calls("run_sse"):
        body = call["body"] if isinstance(call["body"], dict) else json.loads(call["body"])
        out.append(body["session_id"])
    return out


def delivered(daemon: Daemon, name: str, count: int = 1) -> list[dict[str, Any]]:
    """Waits until the history holds `count` delivered rows of `name`; newest first."""

    def rows() -> list[dict[str, Any]] | None:
        rows = daemon.history()
        found = [j for j in rows if j["name"] == name and j["outcome"] == "delivered"]
        return found if len(found) >= count else None

    found: list[dict[str, Any]] = daemon.wait_for(rows, 60, f"{count} delivered {name}")
    return found


# -- hot folders --------------------------------------------------------------------


def test_a_video_dropped_in_a_hot_folder_follows_the_preset(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(presets=SHORTS, watch={"pair_wait_seconds": 600})
    daemon.start()
    hot = daemon.inbox / "shorts"
    assert hot.is_dir(), "the hot folder is made at start"
    assert (daemon.outbox / "shorts").is_dir(), "and its results folder"
    status = unwrap(daemon.cli("status").stdout)
    assert "hot folders: 1" in status and f"shorts: {hot}/" in status, status

    # no .txt: the preset's instructions alone, without waiting pair_wait_seconds (600 s)
    daemon.drop(sample_video, "clip.mp4", folder=hot)
    # with a .txt: the preset's instructions open turn 1, then the job's own
    daemon.note("talk.txt", "Cut the first ten seconds.", folder=hot)
    daemon.drop(sample_video, "talk.mp4", folder=hot)

    results = daemon.outbox / "shorts"
    wait_for(lambda: len(list(results.glob("*.mp4"))) == 2, 90, "both results in outbox/shorts")
    assert sorted(p.name for p in results.glob("*.mp4")) == ["clip.mp4", "talk.mp4"]
    assert not daemon.outputs(), "nothing in the outbox itself"
    texts = sorted(turn_texts(daemon))
    preset = SHORTS["shorts"]["instructions"]
    assert texts == sorted([preset, f"{preset}\n\nCut the first ten seconds."]), texts
    report = (results / "talk.report.txt").read_text()
    assert "Preset: shorts" in report
    rows = delivered(daemon, "talk")
    assert rows[0]["preset"] == "shorts"
    assert daemon.stop() == 0


def test_a_first_start_makes_the_inbox_and_its_hot_folder(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(presets=SHORTS)
    daemon.inbox.rmdir()  # nothing there yet: the daemon makes the inbox, then the hot folder
    daemon.start()
    assert (daemon.inbox / "shorts").is_dir() and (daemon.outbox / "shorts").is_dir()
    assert "cannot look into the hot folder" not in daemon.log_text()
    assert daemon.stop() == 0


def test_a_folder_in_a_hot_folder_is_a_bundle_with_the_preset(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(presets=SHORTS)
    daemon.start()
    bundle = daemon.inbox / "shorts" / "trip"
    bundle.mkdir()
    daemon.drop(sample_video, "a.mp4", folder=bundle)
    daemon.drop(sample_video, "b.mp4", folder=bundle)
    result = daemon.outbox / "shorts" / "trip.mp4"
    wait_for(result.exists, 90, "the bundle's result in outbox/shorts")
    assert turn_texts(daemon) == [SHORTS["shorts"]["instructions"]]
    (upload,) = daemon.calls("upload")
    assert upload["status"] == 200
    assert daemon.stop() == 0


def test_a_hot_folder_removed_under_the_daemon_is_made_again_and_works(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon(presets=SHORTS)
    daemon.start()
    hot = daemon.inbox / "shorts"
    shutil.rmtree(hot)
    wait_for(hot.is_dir, 30, "the hot folder made again at the next rescan")
    daemon.drop(sample_video, "clip.mp4", folder=hot)
    wait_for((daemon.outbox / "shorts" / "clip.mp4").exists, 90, "the result in outbox/shorts")
    assert turn_texts(daemon) == [SHORTS["shorts"]["instructions"]]
    assert not daemon.failures()
    assert daemon.stop() == 0


def test_a_reload_that_adds_a_preset_makes_its_hot_folder(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.start()
    hot = daemon.inbox / "reels"
    assert not hot.exists()
    daemon.settings["presets"] = {"reels": {"instructions": "Square, 1:1."}}
    daemon.config.write_text(tomli_w.dumps(daemon.settings))
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(hot.is_dir, 30, "the hot folder made by the reload")
    daemon.drop(sample_video, "clip.mp4", folder=hot)
    wait_for((daemon.outbox / "reels" / "clip.mp4").exists, 90, "the result in outbox/reels")
    assert turn_texts(daemon) == ["Square, 1:1."]
    assert daemon.stop() == 0


# -- refinements --------------------------------------------------------------------


def test_a_refinement_is_delivered_as_v2_then_v3_in_the_same_session(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon()
    daemon.emulator.control.set(credits=1000)  # three paid turns (new accounts)
    daemon.start()
    daemon.drop_pair(sample_video, "holiday", text="Trim the silences")
    wait_for(lambda: (daemon.outbox / "holiday.report.txt").exists(), 90, "the first result")
    (first,) = delivered(daemon, "holiday")

    daemon.note("holiday.refine.txt", "Make the title bigger.")
    v2 = daemon.outbox / "holiday v2.mp4"
    report = daemon.outbox / "holiday v2.report.txt"
    wait_for(report.exists, 90, "holiday v2 and its report")
    assert v2.stat().st_size > 0
    text = report.read_text()
    assert "Refines: holiday.mp4" in text and "as version 2" in text, text
    assert "Make the title bigger." in text
    delivered(daemon, "holiday", 2)

    daemon.note("holiday.refine.txt", "Now add music.")  # a refinement of the refinement
    wait_for((daemon.outbox / "holiday v3.report.txt").exists, 90, "holiday v3")
    assert "Refines: holiday v2.mp4" in (daemon.outbox / "holiday v3.report.txt").read_text()

    assert len(daemon.calls("upload")) == 1, "nothing was uploaded again"
    assert turn_texts(daemon) == ["Trim the silences", "Make the title bigger.", "Now add music."]
    assert set(sessions_of_turns(daemon)) == {first["session_id"]}
    rows = delivered(daemon, "holiday", 3)
    assert [r["version"] for r in rows] == [3, 2, 1]
    assert rows[0]["refines"] == rows[1]["id"] and rows[1]["refines"] == rows[2]["id"]
    assert (daemon.outbox / "holiday.mp4").exists(), "the first result is never replaced"
    assert daemon.stop() == 0


def test_a_plain_txt_beside_a_delivered_name_does_not_refine(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon()
    daemon.start()
    daemon.drop_pair(sample_video, "clip", text="Trim the silences")
    wait_for(lambda: (daemon.outbox / "clip.report.txt").exists(), 90, "the first result")
    daemon.note("clip.txt", "Make the title bigger.")
    # the status file may first show it settling (written within a second of any change)
    wait_for(
        lambda: [
            w
            for w in daemon.status()["waiting"]
            if w["path"].endswith("clip.txt") and "waiting for their video" in w["reason"]
        ],
        30,
        "clip.txt waiting for its video",
    )
    assert len(daemon.calls("run_sse")) == 1, "no turn was sent for it"
    assert not (daemon.outbox / "clip v2.mp4").exists()
    assert daemon.stop() == 0


def test_a_refinement_of_nothing_fails_before_anything_is_paid(daemon: Daemon) -> None:
    daemon.start()
    daemon.note("ghost.refine.txt", "Make the title bigger.")
    (failed,) = wait_for(daemon.failures, 60, "the note in the failed folder")
    error = daemon.error_of(failed.name)
    assert "refines a result named ghost, but none was delivered" in error, error
    assert (failed / "ghost.refine.txt").read_text() == "Make the title bigger."
    assert not daemon.calls("run_sse") and not daemon.calls("session")
    assert daemon.stop() == 0


def test_a_refinement_whose_session_is_gone_fails_and_start_over_redoes_it(
    make_daemon: Callable[..., Daemon], sample_video: Path
) -> None:
    daemon = make_daemon()
    daemon.emulator.control.set(credits=1000)  # three paid turns (new accounts)
    daemon.start()
    daemon.drop_pair(sample_video, "talk", text="Trim the silences")
    wait_for(lambda: (daemon.outbox / "talk.report.txt").exists(), 90, "the first result")
    delivered(daemon, "talk")
    daemon.emulator.control.action("lose_sessions")

    daemon.note("talk.refine.txt", "Make the title bigger.")
    (failed,) = wait_for(daemon.failures, 60, "the refinement in the failed folder")
    error = daemon.error_of(failed.name)
    assert "session of the result this refines is gone" in error, error
    assert "API code: 1002" in error
    assert f"nemowatch retry {failed.name} --start-over" in error

    shown = daemon.cli("retry", failed.name, "--start-over", "--yes")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "2 turns will be sent" in shown.stdout + shown.stderr
    v2 = daemon.outbox / "talk v2.report.txt"
    wait_for(v2.exists, 90, "talk v2 redone from the archived originals")
    texts = turn_texts(daemon)
    assert texts[-2:] == ["Trim the silences", "Make the title bigger."], texts
    assert len(daemon.calls("upload")) == 2, "the archived original was uploaded anew"
    assert daemon.stop() == 0


# -- links --------------------------------------------------------------------------


@pytest.fixture
def files(sample_video: Path) -> Iterator[Files]:
    server = Files(sample_video.read_bytes())
    yield server
    server.close()


def test_url_webloc_and_link_files_are_uploaded_by_url(daemon: Daemon, files: Files) -> None:
    daemon.emulator.control.set(credits=1000)  # three paid turns
    daemon.start()
    address = files.url("/media/city.mp4")
    daemon.note("site.url", f"[InternetShortcut]\r\nURL={address}\r\n")
    binary = plistlib.dumps({"URL": address}, fmt=plistlib.FMT_BINARY)
    daemon.note("mac.webloc", binary)
    daemon.note("plain.link", f"\n  {address}  \n")
    for name in ("site", "mac", "plain"):
        daemon.note(f"{name}.txt", f"Edit {name}")
    wait_for(lambda: len(daemon.outputs()) == 3, 90, "three results")
    assert [p.name for p in daemon.outputs()] == ["mac.mp4", "plain.mp4", "site.mp4"]
    uploads = daemon.calls("upload")
    assert len(uploads) == 3 and all(u["source"] == "url" for u in uploads), uploads
    assert all(u["urls"] == [address] for u in uploads)
    assert files.asked.count("/media/city.mp4") == 3, "the emulator fetched each link"
    assert daemon.stop() == 0


def test_a_link_that_is_not_http_fails_before_anything_is_paid(daemon: Daemon) -> None:
    daemon.start()
    daemon.note("secret.link", "file:///etc/passwd\n")
    daemon.note("secret.txt", "Edit it")
    (failed,) = wait_for(daemon.failures, 60, "the link in the failed folder")
    error = daemon.error_of(failed.name)
    assert "secret.link" in error.splitlines()[0], error
    assert "http" in error.splitlines()[0]
    assert not daemon.calls("upload") and not daemon.calls("run_sse")
    assert daemon.stop() == 0


def test_a_link_in_a_hot_folder_follows_the_preset(
    make_daemon: Callable[..., Daemon], files: Files
) -> None:
    daemon = make_daemon(presets=SHORTS)
    daemon.start()
    daemon.note("promo.link", files.url("/media/city.mp4"), folder=daemon.inbox / "shorts")
    wait_for((daemon.outbox / "shorts" / "promo.mp4").exists, 90, "the result in outbox/shorts")
    (upload,) = daemon.calls("upload")
    assert upload["source"] == "url"
    assert turn_texts(daemon) == [SHORTS["shorts"]["instructions"]]
    assert daemon.stop() == 0
