"""`nemowatch submit` on a terminal, as a person runs it: Ctrl-C, `status`, `--resume`.

Ctrl-C once the turn is sent stops the job at its next checkpoint (the turn
answered first), with no traceback, exit 130 and the command that finishes it;
`status` lists the unfinished job; `submit --resume` delivers the MP4 without
sending the turn again. Log lines written while the bars are drawn never land
inside a bar.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

from devkit.daemon import Daemon
from devkit.processes import clean_env
from devkit.waits import wait_for

TEXT = "Trim the silences and add a title"
#: the start of a log line (`logsetup.FORMAT`)
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR) ")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Terminal:
    """`nemowatch ARGS` on a pseudo-terminal of 80 columns; a thread reads what it shows."""

    def __init__(self, daemon: Daemon, *args: str) -> None:
        keyboard, screen = pty.openpty()
        fcntl.ioctl(screen, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        command = [sys.executable, "-m", "nemowatch", "--config", str(daemon.config), *args]
        try:
            self.proc = subprocess.Popen(
                command, stdin=screen, stdout=screen, stderr=screen, env=clean_env()
            )
        finally:
            os.close(screen)
        self._keyboard = keyboard
        self._shown = bytearray()
        self._reader = threading.Thread(target=self._read, name="pty-reader")
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._keyboard, 65536)
            except OSError:  # EIO: every writer of the terminal has gone
                return
            if not chunk:
                return
            self._shown += chunk

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._reader.join(10)
            if self._keyboard >= 0:  # once: a second close could hit a reused descriptor
                os.close(self._keyboard)
                self._keyboard = -1

    @property
    def shown(self) -> str:
        return bytes(self._shown).decode(errors="replace").replace("\r\n", "\n")


def segments(text: str) -> list[str]:
    """What the terminal shows line by line: cut at newlines and carriage returns."""
    plain = ANSI.sub("", text)
    return [part.lstrip(" ") for line in plain.split("\n") for part in line.split("\r")]


def test_ctrl_c_after_the_turn_was_sent_then_resume_delivers_without_paying_again(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(turn_seconds=3)
    terminal = Terminal(daemon, "submit", str(sample_video), "-i", TEXT)
    wait_for(lambda: daemon.calls("run_sse"), 30, "the turn to be sent")
    terminal.proc.send_signal(signal.SIGINT)
    code = terminal.wait()

    shown = terminal.shown
    assert code == 130, shown
    assert "Traceback" not in shown, shown
    assert shown.endswith("nemowatch: interrupted\n"), shown
    hint = re.search(r"nemowatch --config \S+ submit --resume (\S+)", shown)
    assert hint is not None, shown
    job_id = hint.group(1)

    status = daemon.cli("status")
    assert status.returncode == 3, status.stderr  # no daemon runs
    assert "submit jobs not finished: 1" in status.stdout, status.stdout
    assert f"  {job_id}: edited" in status.stdout, "the turn was answered before it stopped"
    as_json = json.loads(daemon.cli("status", "--json").stdout)
    assert [s["id"] for s in as_json["submits"]] == [job_id]

    resumed = daemon.cli("submit", "--resume", timeout=60)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    result = daemon.outbox / sample_video.name
    assert f"result: {result}" in resumed.stdout, resumed.stdout
    assert result.read_bytes()[4:8] == b"ftyp"
    assert len(daemon.calls("run_sse")) == 1, "the turn was paid for once"
    assert list((daemon.state / "submit").iterdir()) == [], "a finished job's folder goes"
    assert "submit jobs" not in daemon.cli("status").stdout


def test_a_second_ctrl_c_stops_at_once_and_still_says_how_to_resume(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(turn_seconds=3)
    terminal = Terminal(daemon, "submit", str(sample_video), "-i", TEXT)
    wait_for(lambda: daemon.calls("run_sse"), 30, "the turn to be sent")
    terminal.proc.send_signal(signal.SIGINT)
    wait_for(lambda: "Ctrl-C again" in terminal.shown, 10, "the first Ctrl-C to be taken")
    terminal.proc.send_signal(signal.SIGINT)
    code = terminal.wait()

    shown = terminal.shown
    assert code == 130, shown
    assert "Traceback" not in shown, shown
    assert "stopped at stage uploaded" in shown, "the turn is journaled as sent"
    assert re.search(r"submit --resume \S+", shown), shown
    (folder,) = (daemon.state / "submit").iterdir()
    job = json.loads((folder / "job.json").read_text())
    assert [t["state"] for t in job["turns"]] == ["sent"], "read back on resume, never resent"


def test_log_lines_are_written_above_the_bars_never_into_them(
    daemon: Daemon, sample_video: Path
) -> None:
    daemon.emulator.control.set(render_seconds=2)  # the render's bar, with DEBUG polls
    terminal = Terminal(daemon, "submit", str(sample_video), "-i", TEXT)
    code = terminal.wait()

    shown = terminal.shown
    assert code == 0, shown
    parts = segments(shown)
    bars = [p for p in parts if re.match(r"(upload|edit|render|download): +\d+%\|", p)]
    assert any(p.startswith("render: 100%") for p in bars), shown
    glued = [p for p in parts if LOG_LINE.search(p) and not LOG_LINE.match(p)]
    assert glued == [], f"log text glued into a bar line: {glued}"
    # every bar is closed at its phase's end: its last state stays as a line of its own
    lines = [segments(line)[-1] for line in shown.split("\n")]
    assert any(line.startswith("render: 100%") for line in lines), shown
