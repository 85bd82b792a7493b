"""What is checked before anything is uploaded, each with its own plain reason.

Every failure here is an `InputError` whose message says what is wrong with
which file and how to fix it; it goes first in the failed folder's error.txt.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from nemowatch.config import JobSettings
from nemowatch.errors import InputError
from nemowatch.jobs.claim import BUNDLE
from nemowatch.jobs.model import Job
from nemowatch.links import read_link
from nemowatch.media import LINK_TYPES, MB, MEDIA_TYPES

MAX_INSTRUCTIONS_BYTES = 64 * 1024
ACCEPTED = ", ".join(MEDIA_TYPES)
_TURN_SEPARATOR = re.compile(r"^\s*---\s*$", re.MULTILINE)


def check_media(
    paths: list[Path], jobs: JobSettings, known_as: Mapping[str, str] | None = None
) -> None:
    """Type, size, kind and readability of every media file, before any byte is sent.

    Args:
        known_as: how the user knows each file (by its name in the job's folder):
            its place in the inbox (`inbox_names`); the bare name otherwise. The
            work folder's path is never shown: nobody put a file there.
    """
    if not paths:
        raise InputError("There is no video or other media file to edit.")
    limit = jobs.max_file_mb * MB
    for path in paths:
        name = (known_as or {}).get(path.name, path.name)
        try:
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):  # opened as the upload will, and closed again
                os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC))
        except OSError as exc:
            raise InputError(
                f"{name} cannot be read ({exc.strerror}); let the user running nemowatch "
                "read it (chmod a+r) and drop it again."
            ) from exc
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{name} is not a regular file; drop the file itself.")
        ext = path.suffix.lower().lstrip(".")
        if ext in LINK_TYPES:  # the service fetches it: its address must be one it may
            read_link(path, shown=name)
            continue
        if ext not in MEDIA_TYPES:
            raise InputError(f"{name} is a type NemoVideo does not accept; use one of: {ACCEPTED}.")
        if info.st_size == 0:
            raise InputError(f"{name} is empty (0 bytes); copy it again.")
        if info.st_size > limit:
            raise InputError(
                f"{name} is {info.st_size / MB:.3g} MB, over the {jobs.max_file_mb:g} MB "
                "limit; compress or trim it and drop it again."
            )


def inbox_names(job: Job) -> dict[str, str]:
    """Each claimed file's name, and where it was in the inbox (from the journal)."""
    if BUNDLE in job.origins:
        return {name: str(Path(job.origins[BUNDLE]) / name) for name in job.media}
    return dict(job.origins)


def read_instructions(path: Path) -> str:
    """The instructions as text: UTF-8 (a BOM is fine), at most 64 KB, not blank."""
    with path.open("rb") as f:
        data = f.read(MAX_INSTRUCTIONS_BYTES + 1)
    if len(data) > MAX_INSTRUCTIONS_BYTES:
        raise InputError(
            f"{path.name} is over 64 KB; instructions should be a short note of what to do."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path.name} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and drop it again."
        ) from exc
    if not text.strip():
        raise InputError(f"{path.name} is empty; write what the editor should do.")
    return text


def split_turns(text: str) -> list[str]:
    """Turns separated by a line of three dashes, sent one after another."""
    turns = [part.strip() for part in _TURN_SEPARATOR.split(text)]
    turns = [t for t in turns if t]
    if not turns:
        raise InputError("The instructions hold only separator lines; write what to do.")
    return turns
