"""The command line as people run it: real processes, the emulator on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nemowatch.cli import main


@pytest.fixture
def emulator_process() -> Iterator[str]:
    with subprocess.Popen(
        [sys.executable, "-m", "nemowatch", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("NemoVideo emulator listening on http://127.0.0.1:"), line
            yield line.rsplit(" ", 1)[-1].strip()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nemowatch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_credits_against_the_emulator_uses_an_anonymous_token_kept_private(
    emulator_process: str, isolated_env: Path
) -> None:
    done = run("credits", env={"NEMO_API_URL": emulator_process})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "100 credits\n"
    assert done.stderr == "", "quiet by default: no log lines"
    cache = isolated_env / ".local" / "state" / "nemowatch" / "token.json"
    assert cache.stat().st_mode & 0o777 == 0o600
    assert "nmv_usr_" not in done.stdout + done.stderr
    client_id = isolated_env / ".config" / "nemovideo" / "client_id"
    assert len(client_id.read_text().strip()) == 36


def test_a_rejected_user_token_fails_with_a_plain_message(emulator_process: str) -> None:
    secret = "nmv_usr_notarealtoken0000"
    done = run("credits", env={"NEMO_API_URL": emulator_process, "NEMO_TOKEN": secret})
    assert done.returncode == 1
    assert "replace api.token" in done.stderr
    assert secret not in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_api_is_a_plain_failure_not_a_traceback() -> None:
    done = run(
        "credits",
        env={"NEMO_API_URL": "http://127.0.0.1:9", "NEMOWATCH_JOBS__RETRIES": "0"},
    )
    assert done.returncode == 1
    assert "connection failed" in done.stderr and "Traceback" not in done.stderr


def test_unknown_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["config", "show", "--bogus"])
    assert caught.value.code == 2
    assert "--bogus" in capsys.readouterr().err


def test_submit_runs_one_job_in_the_foreground_and_prints_the_result(
    emulator_process: str, sample_video: Path, tmp_path: Path
) -> None:
    outbox = tmp_path / "out"
    done = run(
        "submit",
        str(sample_video),
        "-i",
        "Add a title\n---\nAnd some music",
        env={
            "NEMO_API_URL": emulator_process,
            "NEMOWATCH_FOLDERS__OUTBOX": str(outbox),
            "NEMOWATCH_EXPORT__POLL_FIRST_SECONDS": "0.2",
            "NEMOWATCH_EXPORT__STATE_SETTLE_SECONDS": "0",
        },
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"result: {outbox / 'clip.mp4'}" in done.stdout
    assert (outbox / "clip.mp4").read_bytes()[4:8] == b"ftyp"
    assert sample_video.exists(), "submit never moves the user's own files"
    assert "upload" in done.stderr and "render" in done.stderr  # the progress bars


def test_submit_of_an_unsupported_file_fails_before_uploading(
    emulator_process: str, tmp_path: Path
) -> None:
    doc = tmp_path / "notes.pdf"
    doc.write_bytes(b"%PDF-1.4")
    done = run("submit", str(doc), "-i", "edit", env={"NEMO_API_URL": emulator_process})
    assert done.returncode == 1
    assert "notes.pdf is a type NemoVideo does not accept" in done.stdout


def test_credits_verbose_gives_every_figure_and_json_the_number(emulator_process: str) -> None:
    env = {"NEMO_API_URL": emulator_process}
    verbose = run("credits", "-v", env=env)
    assert verbose.returncode == 0, verbose.stderr
    assert verbose.stdout == "available 100, frozen 0, total 100\n"
    assert "DEBUG" in verbose.stderr, "-v logs the details"
    as_json = run("--json", "credits", env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {"schema": 1, "credits": 100, "frozen": 0, "total": 100}
    assert as_json.stderr == ""
