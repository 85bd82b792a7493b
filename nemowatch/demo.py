"""`nemowatch demo`: the whole flow offline, on the emulator, with a generated clip.

No account and no network: the emulator runs in this process on 127.0.0.1,
the folders are temporary (or `--dir`), and the daemon runs until the sample
job is delivered.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from nemowatch.api import open_client
from nemowatch.config import Settings
from nemowatch.daemon import Daemon
from nemowatch.errors import NemoError
from nemowatch.jobs import events

#: how the demo's job ended
Finished = events.Delivered | events.Failed

INSTRUCTIONS = (
    'Trim the silences, add a title "My first nemowatch edit" and some lo-fi background music.\n'
)
TIMEOUT_SECONDS = 180


def make_sample(path: Path, seconds: float = 4.0, size: str = "320x240") -> Path:
    """A short test-pattern clip with a tone, made with the ffmpeg from imageio-ffmpeg."""
    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


def demo_settings(base: Settings, root: Path, api_url: str) -> Settings:
    """The user's settings, with demo folders and the emulator, tuned to be quick."""
    data = base.model_dump()
    data["folders"] = {
        "inbox": root / "inbox",
        "outbox": root / "outbox",
        "failed": root / "failed",
        "state": root / "state",
    }
    data["api"].update(base_url=api_url, token="")  # never send a real token to the emulator
    data["api"].update(client_id_file=root / "state" / "client_id")
    data["api"].update(recovery_first_wait_seconds=1, recovery_wait_seconds=1)
    data["watch"].update(settle_seconds=0.5, polling=False)
    data["export"].update(poll_first_seconds=0.5, poll_max_seconds=1, state_settle_seconds=1.5)
    return Settings.model_validate(data)


def run_demo(base: Settings, directory: Path | None) -> Finished:
    from nemowatch.emulator import EmulatorServer, EmulatorSettings

    root = directory or Path(tempfile.mkdtemp(prefix="nemowatch-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    knobs = EmulatorSettings(
        turn_seconds=3, heartbeat_seconds=0.5, render_seconds=3, second_stage_delay_seconds=1
    )
    with EmulatorServer(settings=knobs) as emulator:
        settings = demo_settings(base, root, emulator.url)
        inbox = settings.folders.inbox
        inbox.mkdir(parents=True, exist_ok=True)
        staging = root / "sample.mp4"
        make_sample(staging)
        (inbox / "sample.txt").write_text(INSTRUCTIONS, encoding="utf-8")
        staging.rename(inbox / "sample.mp4")  # arrives whole, as a move would
        return asyncio.run(_until_finished(settings))


async def _until_finished(settings: Settings) -> Finished:
    async with open_client(settings) as client:
        daemon = Daemon(settings, client)
        ended: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()

        def on_event(event: events.JobEvent) -> None:
            if isinstance(event, events.Delivered | events.Failed) and not ended.done():
                ended.set_result(event)

        daemon.bus.subscribe("demo", on_event)
        serving = asyncio.create_task(daemon.serve())
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                either: set[asyncio.Future[Any]] = {ended, serving}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError as exc:
            raise NemoError(f"the demo job did not finish in {TIMEOUT_SECONDS} s") from exc
        finally:
            daemon.request_stop()
            await serving
        if not ended.done():
            raise NemoError("the daemon stopped before the demo job finished")
        return ended.result()
