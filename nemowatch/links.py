"""Link files: a `.url`, `.webloc` or `.link` in the inbox stands for a media file.

The service fetches the address itself (upload by URL), so no bytes pass
through this machine. What is read here is the one http(s) address such a
file holds, checked before anything is paid: a link that NemoVideo could not
or must not fetch (`file:`, `javascript:`, no host, hidden characters) fails
the job at once with a `LinkError` naming the file and saying what to do.

- `.url`: a Windows Internet shortcut, INI-like, `URL=` in `[InternetShortcut]`.
- `.webloc`: a macOS property list (XML or binary), a dict with a `URL` key.
- `.link`: one address on a line; blank lines and surrounding spaces are fine.
"""

from __future__ import annotations

import errno
import hashlib
import os
import plistlib
import stat
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

from nemowatch.errors import LinkError
from nemowatch.media import LINK_TYPES

__all__ = ["LINK_TYPES", "MAX_LINK_BYTES", "LinkError", "link_digest", "read_link"]

#: a link file is a few hundred bytes; anything this large is something else
MAX_LINK_BYTES = 64 * 1024
_SCHEMES = ("http", "https")
_SECTION = "[internetshortcut]"
_FIX = "drop a link file holding one http:// or https:// address"


def read_link(path: Path, *, shown: str | None = None) -> str:
    """The one http(s) address a link file holds.

    Args:
        path: the `.url`, `.webloc` or `.link` file (its suffix picks the format).
        shown: the file as the person knows it (its place in the inbox);
            `path.name` when None. Every message names it.

    Raises:
        LinkError: the file cannot be read, is empty or too large, holds no
            address, or one that is not http(s), has no host, or has spaces or
            invisible characters inside.
    """
    name = shown or path.name
    kind = path.suffix.lower().lstrip(".")
    if kind not in LINK_TYPES:
        raise LinkError(f"{name} is not a link file (.url, .webloc or .link); {_FIX}.")
    raw = _read_bounded(path, name)
    if not raw.strip():
        raise LinkError(f"{name} is empty; {_FIX}.")
    if kind == "webloc":
        url = _from_webloc(raw, name)
    elif kind == "url":
        url = _from_shortcut(_text(raw), name)
    else:
        url = _from_plain(_text(raw), name)
    return _checked(url.strip(), name)


def link_digest(url: str) -> str:
    """The duplicate guard's digest of a link: the address's sha256, marked as one.

    The `url:` prefix keeps it apart from a file's digest (64 bare hex digits):
    a link and a file are never taken for the same drop.
    """
    return "url:" + hashlib.sha256(url.encode("utf-8")).hexdigest()


def _read_bounded(path: Path, name: str) -> bytes:
    """At most `MAX_LINK_BYTES` of a regular file, never following a symbolic link."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkError(f"{name} is a symbolic link; drop the link file itself.") from exc
        raise LinkError(
            f"{name} cannot be read ({exc.strerror}); let the user running nemowatch "
            "read it (chmod a+r) and drop it again."
        ) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LinkError(f"{name} is not a regular file; {_FIX}.")
        with open(fd, "rb", closefd=False) as file:
            data = file.read(MAX_LINK_BYTES + 1)
    except OSError as exc:
        raise LinkError(
            f"{name} cannot be read ({exc.strerror}); copy it again and drop it again."
        ) from exc
    finally:
        os.close(fd)
    if len(data) > MAX_LINK_BYTES:
        raise LinkError(
            f"{name} is over {MAX_LINK_BYTES // 1024} KB, so it is not a link file; {_FIX}."
        )
    return data


def _text(raw: bytes) -> str:
    """Text of a shortcut or plain link: UTF-16 with its BOM, else UTF-8 (BOM or not).

    Undecodable bytes become U+FFFD rather than failing the file: other keys of
    a Windows shortcut may be in a code page; an address holding one is refused
    by `_checked` as holding a character that is not text.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    return raw.decode("utf-8-sig", errors="replace")


def _from_shortcut(text: str, name: str) -> str:
    """The first `URL=` value of the `[InternetShortcut]` section (any case)."""
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.lower()
            continue
        key, sep, value = line.partition("=")
        if section == _SECTION and sep and key.strip().lower() == "url" and value.strip():
            return value
    raise LinkError(
        f"{name} has no URL= line in an [InternetShortcut] section; save the link again "
        f"from the browser, or {_FIX}."
    )


def _from_webloc(raw: bytes, name: str) -> str:
    """The `URL` string of a property list, XML or binary."""
    try:
        plist = plistlib.loads(raw)
    except (plistlib.InvalidFileException, ExpatError, ValueError, TypeError, LookupError) as exc:
        raise LinkError(
            f"{name} is not a valid property list ({exc.__class__.__name__}); save the link "
            f"again from the browser, or {_FIX}."
        ) from exc
    url = None
    if isinstance(plist, dict):
        url = next((v for k, v in plist.items() if str(k).lower() == "url"), None)
    if not isinstance(url, str) or not url.strip():
        raise LinkError(
            f"{name} holds no URL entry; save the link again from the browser, or {_FIX}."
        )
    return url


def _from_plain(text: str, name: str) -> str:
    """The one non-blank line of a `.link` file."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise LinkError(f"{name} holds {len(lines)} lines of text; keep one address, on one line.")
    return lines[0]


def _checked(url: str, name: str) -> str:
    """`url` when NemoVideo can fetch it: http(s), a host, no hidden characters.

    The address itself is never quoted back: it may carry a password or a
    signed token, and messages end up in error.txt and logs.
    """
    for index, char in enumerate(url, 1):
        if char.isspace() or unicodedata.category(char).startswith("C") or char == "\ufffd":
            raise LinkError(
                f"{name} holds an address with a space or an invisible character inside "
                f"(character {index}); write the address on one line, without spaces "
                "(a space is written %20)."
            )
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError as exc:
        raise LinkError(f"{name} holds a malformed address ({exc}); {_FIX}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        what = f"a {scheme}: address" if scheme else "no http:// or https:// address"
        raise LinkError(
            f"{name} holds {what}; NemoVideo only fetches http:// and https:// links, "
            "so put the web address of the video there."
        )
    if not parts.hostname:
        raise LinkError(f"{name} holds an address with no host name; {_FIX}.")
    return url
