"""A token quoted by the service in an error message never leaves the process unmasked."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from devkit.daemon import Daemon
from devkit.waits import wait_for
from nemowatch.emulator import EmulatorServer


def test_a_token_in_an_error_message_is_masked_in_every_file_and_output(
    make_daemon: Callable[..., Daemon], emulator: EmulatorServer, sample_video: Path
) -> None:
    # a user's token of an unusual shape: only the registered literal can mask it
    token = "Secret-" + uuid.uuid4().hex
    emulator.control.set(user_tokens={token: {"credits": 500}})
    emulator.control.add_faults(
        [
            {
                "endpoint": "render_submit",
                "http_status": 400,
                "message": f"bad export request (token {token})",
                "times": 10,
            }
        ]
    )
    daemon = make_daemon(api={"token": token}).start()
    daemon.drop_pair(sample_video, "leaky")
    (failed,) = wait_for(daemon.failures, 40, "the job to fail")
    shown = daemon.cli("status")
    assert daemon.stop() == 0

    error = (failed / "error.txt").read_text()
    assert "bad export request" in error, error
    texts = {
        "error.txt": error,
        "job.json": (failed / "job.json").read_text(),
        "job.log": (failed / "job.log").read_text(),
        "status.json": (daemon.state / "status.json").read_text(),
        "status": shown.stdout + shown.stderr,
        "daemon log": daemon.log_text(),
    }
    leaked = [name for name, text in texts.items() if token in text]
    assert not leaked, f"the token reached {leaked}"
