"""Apprise URLs as they may be shown: secrets masked, problems said plainly.

An Apprise URL carries its channel's secrets (a password, a bot token, a
webhook key). Wherever one is shown (`config show`, `doctor`, a log line, an
error) it is rendered by Apprise's own privacy rendering; without Apprise, or
for a URL Apprise does not understand, by a cruder mask that keeps only the
scheme, the user name and a host name.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import warnings
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from nemowatch.sections import NotifySettings

MASK = "****"
INSTALL = "install it with: pip install 'nemowatch[notify]'"
#: where the URL forms of every channel are described
APPRISE_HELP = "https://github.com/caronc/apprise/wiki"
#: a host part that names a machine (not a token standing where a host would)
_HOST = re.compile(r"^(localhost|[0-9.]+|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$")


def apprise_installed() -> bool:
    return importlib.util.find_spec("apprise") is not None


@contextlib.contextmanager
def _apprise_warnings() -> Iterator[None]:
    """Apprise loads its plugins on first use, one of them importing `imghdr`,
    deprecated since Python 3.11: not ours to fix, and not worth a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def load_apprise() -> ModuleType | None:
    """The `apprise` module, or None when it is not installed."""
    if not apprise_installed():
        return None
    with _apprise_warnings():
        import apprise
    return apprise


def _plugin(url: str) -> Any:
    """Apprise's object for `url`, or None when Apprise is missing or does not know it."""
    apprise = load_apprise()
    if apprise is None:
        return None
    try:
        with _apprise_warnings():
            return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001 - a URL Apprise chokes on is a URL it does not know
        return None


def mask_url(url: str) -> str:
    """`url` with every secret in it masked, fit for a log line or `config show`."""
    plugin = _plugin(url)
    if plugin is not None:
        try:
            with _apprise_warnings():
                private = str(plugin.url(privacy=True))
            return _keep_given_options(private, url)
        except Exception:  # noqa: BLE001 - fall back to the crude mask below
            pass
    return crude_mask(url)


def crude_mask(url: str) -> str:
    """Scheme, login name and host name kept; anything else masked."""
    try:
        parts = urlsplit(url.strip())
        host, user = parts.hostname or "", parts.username
        port = parts.port if _HOST.match(host) else None
    except ValueError:  # "bot:TOKEN" where a host and port would be
        return f"{parts.scheme}://{MASK}" if parts.scheme else MASK
    if not parts.scheme:
        return MASK
    shown = host if _HOST.match(host) else (MASK if host else "")
    if port:
        shown += f":{port}"
    if user:  # a user without a password is often a key itself (pover://USERKEY@TOKEN)
        shown = f"{user}:{MASK}@{shown}" if parts.password else f"{MASK}@{shown}"
    hidden = parts.path.strip("/") or parts.query or parts.fragment
    return f"{parts.scheme}://{shown}" + (f"/{MASK}" if hidden else "")


def _keep_given_options(private: str, original: str) -> str:
    """Apprise lists every option with its default; keep those the user wrote."""
    given = {key for key, _ in parse_qsl(urlsplit(original).query, keep_blank_values=True)}
    parts = urlsplit(private)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k in given]
    return urlunsplit(parts._replace(query=urlencode(kept, safe="*.")))


def masked_urls(notify: NotifySettings) -> list[str]:
    """`notify.urls` as `config show` prints them."""
    return [mask_url(url.get_secret_value()) for url in notify.urls]


def apprise_problem(notify: NotifySettings) -> str | None:
    """What keeps `notify.urls` from working, for `doctor`; None when nothing does."""
    urls = [url.get_secret_value() for url in notify.urls]
    if not urls:
        return None
    if not apprise_installed():
        return f"notify.urls is set but Apprise is not installed: {INSTALL}"
    unknown = [crude_mask(url) for url in urls if _plugin(url) is None]
    if unknown:
        return (
            f"notify.urls: Apprise does not understand {', '.join(unknown)}: "
            f"check the URL's form for its service ({APPRISE_HELP})"
        )
    return None


def secret_parts(url: str) -> set[str]:
    """The pieces of `url` that may be secret, to scrub from a channel's own messages."""
    found = {url}
    try:
        parts = urlsplit(url)
        found.update(p for p in (parts.password, parts.username, parts.hostname) if p)
    except ValueError:
        return found
    found.update(parts.path.split("/"))
    found.update(value for _, value in parse_qsl(parts.query))
    return {part for part in found if len(part) >= 4}


def scrub(text: str, urls: Iterable[str]) -> str:
    """`text` with the secret pieces of each URL masked (longest first)."""
    pieces = sorted({p for url in urls for p in secret_parts(url)}, key=len, reverse=True)
    for piece in pieces:
        text = text.replace(piece, MASK)
    return text
