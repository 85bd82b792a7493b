"""Media handling with the static ffmpeg from imageio-ffmpeg.

There is no ffprobe in that package, so durations come from the
``Duration: HH:MM:SS.xx`` line ``ffmpeg -i`` prints on stderr. Every ffmpeg run
is an asyncio subprocess (never blocks the loop) and is killed if the waiting
task is cancelled, so shutdown never waits for a long transcode.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Literal

MediaKind = Literal["video", "image", "audio"]

VIDEO_EXTS = frozenset({"mp4", "mov", "avi", "webm", "mkv"})
IMAGE_EXTS = frozenset({"jpg", "png", "gif", "webp"})
AUDIO_EXTS = frozenset({"mp3", "wav", "m4a", "aac"})
ACCEPTED_EXTS = VIDEO_EXTS | IMAGE_EXTS | AUDIO_EXTS

_DURATION = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


class MediaError(Exception):
    """ffmpeg failed; the message carries the end of its stderr."""


def media_kind(name: str) -> MediaKind | None:
    """The kind of media a file name announces, or None when not accepted."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in VIDEO_EXTS:
        return "video"
    if ext in IMAGE_EXTS:
        return "image"
    if ext in AUDIO_EXTS:
        return "audio"
    return None


def find_ffmpeg() -> str | None:
    """The ffmpeg executable bundled with imageio-ffmpeg, or None if absent."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None
    return str(exe)


def parse_duration_ms(stderr: str) -> int | None:
    """The container duration from ``ffmpeg -i`` output, in milliseconds."""
    match = _DURATION.search(stderr)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)


async def _run(args: list[str]) -> tuple[int, str]:
    """Run ffmpeg; returns its exit status and stderr; kills it when cancelled."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.shield(proc.wait())
        raise
    return proc.returncode or 0, stderr.decode("utf-8", "replace")


async def probe_duration_ms(ffmpeg: str, path: Path) -> int | None:
    """Read a media file's duration; None when ffmpeg cannot tell."""
    _, stderr = await _run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)])
    return parse_duration_ms(stderr)


async def transcode(ffmpeg: str, source: Path, target: Path) -> None:
    """Re-encode ``source`` as H.264/yuv420p MP4 (AAC audio when it has audio).

    Raises:
        MediaError: ffmpeg failed.
    """
    await _ffmpeg(
        ffmpeg,
        ["-i", str(source), "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:a", "aac"],
        target,
    )


async def synthesize(ffmpeg: str, target: Path, seconds: float) -> None:
    """Render a plain test-pattern clip, for drafts without an uploaded video.

    Raises:
        MediaError: ffmpeg failed.
    """
    pattern = f"testsrc2=size=320x240:rate=10:duration={max(seconds, 0.5):.3f}"
    await _ffmpeg(ffmpeg, ["-f", "lavfi", "-i", pattern], target)


async def _ffmpeg(ffmpeg: str, inputs: list[str], target: Path) -> None:
    """Encode ``inputs`` to an H.264 MP4 at ``target`` via a temporary name."""
    partial = target.with_name(target.name + ".part.mp4")
    args = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "error", *inputs]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-movflags", "+faststart", str(partial)]
    try:
        status, stderr = await _run(args)
        if status != 0:
            raise MediaError(f"ffmpeg exited with {status}: {stderr.strip()[-400:]}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
