"""The emulator, in a thread of this process (tests) or as a child process (benchmarks).

Both forms offer `url` and `control` (an `EmulatorControl`), which is all a
`devkit.daemon.Daemon` needs of its emulator.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from devkit.processes import pinned, stop_process
from nemowatch.emulator import EmulatorControl, EmulatorServer, EmulatorSettings

#: knobs for tests: every stage takes a little time, short enough for a fast suite
FAST_EMULATOR: dict[str, Any] = {
    "turn_seconds": 0.3,
    "heartbeat_seconds": 0.05,
    "second_stage_delay_seconds": 0.2,
    "render_seconds": 0.4,
    "force_silent": False,
    # the render is the uploaded clip itself (the tests' clips are H.264 already): an
    # ffmpeg encode per render was a tenth of a second of CPU each, for nothing tested
    "transcode": False,
}
#: knobs (`--set` values) for a pipeline that costs no time on the emulator's side
ZERO_DELAYS = (
    "turn_seconds=0",
    "heartbeat_seconds=0.05",
    "second_stage=false",
    "render_seconds=0",
    "transcode=false",
    "use_ffmpeg=false",
    "silent_share=0",
    "credits=100000000",
)


class Emulator(Protocol):
    """What a daemon's harness needs of a running emulator."""

    @property
    def url(self) -> str: ...

    @property
    def control(self) -> EmulatorControl: ...


def emulator_thread(**knobs: Any) -> EmulatorServer:
    """An emulator served by a thread of this process (a context manager), with `knobs`
    (default `FAST_EMULATOR`)."""
    return EmulatorServer(settings=EmulatorSettings(**(knobs or FAST_EMULATOR)))


class EmulatorProcess:
    """A running `nemowatch emulator` child process: its URL and a control client."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        self._control: EmulatorControl | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def control(self) -> EmulatorControl:
        """A control client (generous timeout: a journal of thousands of records is slow)."""
        if self._control is None:
            self._control = EmulatorControl(self.url, timeout=60)
        return self._control

    def stop(self, timeout: float = 30) -> int:
        if self._control is not None:
            self._control.close()
            self._control = None
        return stop_process(self.proc, timeout)


@contextmanager
def emulator_process(
    data_dir: Path, *knobs: str, cpu: int | None = None
) -> Iterator[EmulatorProcess]:
    """`nemowatch emulator` on a random loopback port with `--set` `knobs`; stopped after.

    `cpu` pins it to that CPU (see `devkit.processes.pinned`).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [*pinned(cpu), sys.executable, "-m", "nemowatch.emulator", "--port", "0"]
    args += ["--data-dir", str(data_dir)]
    for knob in knobs:
        args += ["--set", knob]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as proc:
        emulator = EmulatorProcess(proc, "")
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "listening on " not in line:
                raise RuntimeError(f"emulator did not start: {line!r}")
            emulator.url = line.rsplit(" ", 1)[-1].strip()
            yield emulator
        finally:
            emulator.stop()
