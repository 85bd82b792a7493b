"""The daemon delivers: pairs, turns, bundles, late instructions, renames."""

from __future__ import annotations

from pathlib import Path

from devkit.daemon import Daemon
from devkit.waits import wait_for


def test_a_pair_becomes_a_delivered_mp4_with_a_report(daemon: Daemon, sample_video: Path) -> None:
    daemon.start()
    daemon.note("holiday.txt", "Trim the silences and add a title")
    daemon.drop(sample_video, "holiday.mp4")
    (result,) = wait_for(daemon.outputs, 60, "the result")
    assert result.name == "holiday.mp4"
    assert result.read_bytes()[4:8] == b"ftyp"
    report_file = daemon.outbox / "holiday.report.txt"
    report = wait_for(lambda: report_file.exists() and report_file.read_text(), 10, "the report")
    assert "Trim the silences and add a title" in report
    assert "Timeline (" in report
    assert "/workspace/claim?ct=clm_" in report

    def archived() -> set[str]:  # the originals move after the report is written
        return {p.name for p in (daemon.outbox / "originals").rglob("*") if p.is_file()}

    assert wait_for(lambda: archived() == {"holiday.mp4", "holiday.txt"}, 10, "the archive")
    assert not list(daemon.inbox.iterdir()) or [p.name for p in daemon.inbox.iterdir()] == [
        ".nemowatch"
    ]
    assert daemon.stop() == 0
    assert len(daemon.calls("run_sse")) == 1
    log = daemon.log_text()
    for milestone in (
        "claimed",
        "uploaded 1 file(s)",
        "turn 1 of 1 answered",
        "render",
        "delivered",
    ):
        assert milestone in log, milestone
    assert "nmv_usr_" not in log
