"""Sending a job's media into its session: files as bytes, links as addresses.

Files are streamed in one multipart upload (their sha256 computed on the
way, for the duplicate guard); link files (`.url`, `.webloc`, `.link`) are
sent as their addresses, which the service fetches itself. A link's digest
is that of its address (`links.link_digest`): the same link dropped twice is
the same drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nemowatch.api import NemoClient
from nemowatch.api.transfer import Progress
from nemowatch.links import link_digest, read_link
from nemowatch.media import LINK_TYPES


def is_link(path: Path) -> bool:
    return path.suffix.lower().lstrip(".") in LINK_TYPES


@dataclass
class Sent:
    """What the upload step sent: bytes, addresses, time, and each media file's digest."""

    files: int = 0
    bytes_sent: int = 0
    links: int = 0
    seconds: float = 0.0
    sha256: dict[Path, str] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = []
        if self.files:
            parts.append(f"{self.files} file(s), {self.bytes_sent / 1e6:.1f} MB")
        if self.links:
            parts.append(f"{self.links} link(s), fetched by NemoVideo itself")
        return f"{' and '.join(parts)} in {self.seconds:.1f} s"


async def send_media(
    client: NemoClient, session_id: str, paths: Sequence[Path], progress: Progress
) -> Sent:
    """Upload the files, then hand over the links' addresses, into one session.

    Raises:
        LinkError: a link file no longer holds a usable address (nothing was paid).
    """
    files = [p for p in paths if not is_link(p)]
    linked = {p: read_link(p) for p in paths if is_link(p)}
    sent = Sent(files=len(files), links=len(linked))
    if files:
        result = await client.upload(session_id, files, progress=progress)
        sent.bytes_sent, sent.seconds = result.bytes_sent, result.seconds
        sent.sha256.update(result.sha256)
    if linked:
        result = await client.upload_urls(session_id, list(linked.values()))
        sent.seconds += result.seconds
        sent.sha256.update({path: link_digest(url) for path, url in linked.items()})
    return sent
