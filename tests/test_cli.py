"""The command line as people run it: real processes, the emulator on loopback."""

from __future__ import annotations

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
    assert done.stdout.strip() == "available 100, frozen 0, total 100"
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
