"""The command line (``python -m nemowatch.emulator``) and memory use of big uploads."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from nemowatch.emulator import EmulatorControl, main

READY = re.compile(r"^NemoVideo emulator listening on (http://127\.0\.0\.1:\d+)\n$")


@contextmanager
def emulator_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The emulator as a child process; yields it and its URL; never leaks it."""
    command = [sys.executable, "-m", "nemowatch.emulator", "--port", "0", *args]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 20)
            assert ready, "the emulator did not say it was ready within 20 s"
            line = proc.stdout.readline()
            match = READY.match(line)
            assert match, f"unexpected first line {line!r}"
            yield proc, match.group(1)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_command_prints_one_ready_line_and_stops_on_a_signal(signum: int) -> None:
    with emulator_process() as (proc, url):
        answer = httpx.post(url + "/api/auth/anonymous-token", headers={"X-Client-Id": "cli"})
        assert answer.json()["code"] == 0
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None and proc.stdout.read() == ""


def test_the_command_takes_knobs_and_faults(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"faults": [{"endpoint": "state", "code": 1002}]}))
    inline = '[{"endpoint": "credits", "http_status": 503, "times": 0}]'
    data = tmp_path / "data"
    args = ["--set", "turn_cost=7", "--set", "heartbeat_style=json", "--faults", str(faults)]
    with emulator_process(*args, "--faults", inline, "--data-dir", str(data)) as (proc, url):
        with EmulatorControl(url) as control:
            settings = control.settings()
            assert settings["turn_cost"] == 7 and settings["heartbeat_style"] == "json"
            assert [rule["endpoint"] for rule in control.faults()] == ["credits"]
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert (data / "uploads").is_dir()  # a data dir that was given is kept


@pytest.mark.parametrize(
    "argv",
    [["--set", "no_such_knob=1"], ["--set", "turn_seconds"], ["--faults", "[{}]"], ["--port", "x"]],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.slow
def test_a_200_mb_upload_streams_to_disk_without_growing_memory() -> None:
    size = 200 * 1024 * 1024
    boundary = "nemowatch-emulator-test-boundary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="files"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        chunk = b"\x01" * (1024 * 1024)
        for _ in range(size // len(chunk)):
            yield chunk
        yield tail

    with emulator_process() as (proc, url), httpx.Client(base_url=url, timeout=60) as http:
        token = http.post("/api/auth/anonymous-token", headers={"X-Client-Id": "big"})
        http.headers["Authorization"] = "Bearer " + token.json()["data"]["token"]
        sid = http.post("/api/tasks/me/with-session/nemo_agent", json={}).json()["data"]
        before_kb = memory_kb(proc.pid, "VmRSS")
        answer = http.post(
            f"/api/upload-video/nemo_agent/me/{sid['session_id']}",
            content=body(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
            },
        ).json()
        peak_kb = memory_kb(proc.pid, "VmHWM")
        assert answer["code"] == 0
        assert answer["data"]["files"][0]["size"] == size
        assert peak_kb - before_kb < 50 * 1024, f"RSS grew from {before_kb} kB to {peak_kb} kB"
        proc.terminate()
        assert proc.wait(timeout=10) == 0
