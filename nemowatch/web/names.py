"""File names that come from a browser, made safe to create in the inbox.

A name from a browser is only a wish: it may hold path separators (`../x`),
start with a dot (a hidden file, which the inbox would ignore), hold control
characters, or be longer than the filesystem allows. `safe_name` keeps its
last part, drops what cannot be in a name and shortens the stem to fit.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from nemowatch.errors import UsageError

#: bytes kept free in a name for " (12)" when the name is taken, and for ".txt"
SPARE = 12
NAME_MAX = 255


def name_max(folder: Path) -> int:
    """The longest name, in bytes, the filesystem of `folder` takes."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX


def safe_name(raw: str, limit: int = NAME_MAX) -> str:
    """A plain file name from what the browser sent.

    Raises:
        UsageError: nothing usable is left ("", "..", only dots or separators).
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip().lstrip(".").strip()
    if not name:
        raise UsageError(f"{raw!r} is not a usable file name")
    return fit(name, limit - SPARE)


def fit(name: str, limit: int) -> str:
    """`name` shortened (its stem, keeping the suffix) to at most `limit` UTF-8 bytes."""
    if len(name.encode()) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix.encode()) > 16:
        stem, suffix = name, ""
    else:
        suffix = "." + suffix
    room = max(1, limit - len(suffix.encode()))
    short = stem.encode()[:room].decode(errors="ignore").rstrip()
    return (short or "file") + suffix


def stem_of(name: str) -> str:
    stem = Path(name).stem
    return stem or name


def free_stem(folder: Path, stem: str, suffixes: list[str]) -> str:
    """`stem`, or `stem (2)`, ... such that no `stem + suffix` exists in `folder`."""
    candidate, n = stem, 1
    while any((folder / f"{candidate}{s}").exists() for s in suffixes):
        n += 1
        candidate = f"{stem} ({n})"
    return candidate
