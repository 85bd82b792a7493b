"""How an edit turn and the second stage change a session's draft.

The draft uses the backend's short keys: ``t`` tracks; per track ``tt`` (0
video, 1 audio, 7 text) and ``sg`` segments; per segment ``s`` start and ``d``
duration in milliseconds and ``m`` metadata. ``rv`` counts the changes, so
every edit visibly changes the state even when the timeline looks the same.
"""

from __future__ import annotations

import re
from typing import Any

from nemowatch.emulator.world import Media, Session

VIDEO, AUDIO, TEXT = 0, 1, 7
BGM_NAME = "Lo-fi"
BGM_VOLUME = 0.35
TITLE_MS = 3000
_QUOTED = re.compile(r"[\"“«]([^\"”»]{2,60})[\"”»]|(?<![\w'])'([^']{2,60})'(?![\w'])")


def title_from(instruction: str) -> str:
    """The title an instruction asks for: a quoted phrase, else its first words."""
    quoted = _QUOTED.search(instruction)
    if quoted:
        return (quoted.group(1) or quoted.group(2)).strip()
    words = re.findall(r"[A-Za-z0-9']+", instruction)[:4]
    return " ".join(w.capitalize() for w in words) or "My Video"


def _segments(media: list[Media], volume: float | None = None) -> list[dict[str, Any]]:
    """Lay media end to end from 0."""
    segments: list[dict[str, Any]] = []
    start = 0
    for item in media:
        meta: dict[str, Any] = {"name": item.name, "media_id": item.media_id}
        if volume is not None:
            meta["volume"] = volume
        segments.append({"id": f"sg_{item.media_id}", "s": start, "d": item.duration_ms, "m": meta})
        start += item.duration_ms
    return segments


def _length(track: dict[str, Any]) -> int:
    return max((int(sg["s"]) + int(sg["d"]) for sg in track["sg"]), default=0)


def _track(draft: dict[str, Any], tt: int, **match: Any) -> dict[str, Any] | None:
    for track in draft["t"]:
        if track["tt"] == tt and all(track.get(k) == v for k, v in match.items()):
            return track  # type: ignore[no-any-return]
    return None


def _title_track(title: str, total_ms: int) -> dict[str, Any]:
    duration = min(TITLE_MS, total_ms) if total_ms else TITLE_MS
    segment = {"id": "sg_title", "s": 0, "d": duration, "m": {"name": title, "title": title}}
    return {"id": "trk_title", "tt": TEXT, "sg": [segment]}


def apply_edit(session: Session, instruction: str) -> None:
    """Rebuild the timeline from the session's media and the instruction."""
    old = session.draft
    visual = [m for m in session.media if m.kind in ("video", "image")]
    audio = [m for m in session.media if m.kind == "audio"]
    tracks: list[dict[str, Any]] = []
    if visual:
        tracks.append({"id": "trk_video", "tt": VIDEO, "sg": _segments(visual)})
    if audio:
        tracks.append({"id": "trk_audio", "tt": AUDIO, "sg": _segments(audio, 1.0)})
    bgm = _track(old, AUDIO, id="trk_bgm")
    if bgm is not None and not audio:
        tracks.append(bgm)
    total = max((_length(t) for t in tracks), default=0)
    old_title = _track(old, TEXT)
    title = title_from(instruction)
    if old_title is not None and not _QUOTED.search(instruction):
        title = old_title["sg"][0]["m"]["title"]
    tracks.append(_title_track(title, total))
    session.bump()
    session.draft = {"t": tracks, "d": total, "rv": session.version}


def second_stage(session: Session) -> bool:
    """The backend's own follow-up: background music, else a title style.

    Returns:
        Whether the draft changed (the caller does not need to bump).
    """
    draft = session.draft
    if not draft["t"]:
        return False
    video = _track(draft, VIDEO)
    if _track(draft, AUDIO) is None:
        total = _length(video) if video else int(draft.get("d", 0)) or TITLE_MS
        meta = {"name": BGM_NAME, "title": BGM_NAME, "volume": BGM_VOLUME, "kind": "bgm"}
        bgm = {
            "id": "trk_bgm",
            "tt": AUDIO,
            "sg": [{"id": "sg_bgm", "s": 0, "d": total, "m": meta}],
        }
        draft["t"].insert(1 if video else 0, bgm)
    else:
        title = _track(draft, TEXT)
        if title is None or title["sg"][0]["m"].get("style"):
            return False
        title["sg"][0]["m"]["style"] = "bold"
    session.bump()
    draft["rv"] = session.version
    return True


def has_content(draft: Any) -> bool:
    """Whether a draft is ready for export: some track with a non-empty ``sg``."""
    if not isinstance(draft, dict) or not isinstance(draft.get("t"), list):
        return False
    return any(
        isinstance(t, dict) and isinstance(t.get("sg"), list) and t["sg"] for t in draft["t"]
    )


def length_ms(draft: Any) -> int:
    """How long a (client-supplied) draft plays; 0 when it cannot tell."""
    if not has_content(draft):
        return 0
    ends = [
        sg.get("s", 0) + sg.get("d", 0)
        for track in draft["t"]
        if isinstance(track, dict)
        for sg in track.get("sg") or []
        if isinstance(sg, dict)
        and isinstance(sg.get("s", 0), int | float)
        and isinstance(sg.get("d", 0), int | float)
    ]
    return int(max(ends, default=0))


def video_media_ids(draft: Any) -> list[str]:
    """The media ids on a draft's video tracks, in timeline order."""
    ids: list[str] = []
    if not has_content(draft):
        return ids
    for track in draft["t"]:
        if isinstance(track, dict) and track.get("tt") == VIDEO:
            for segment in track.get("sg") or []:
                meta = segment.get("m") if isinstance(segment, dict) else None
                if isinstance(meta, dict) and isinstance(meta.get("media_id"), str):
                    ids.append(meta["media_id"])
    return ids


def state_of(session: Session) -> dict[str, Any]:
    """The ``data.state`` the state call answers with."""
    return {
        "draft": session.draft,
        "video_infos": [m.info() for m in session.media],
        "canvas_config": {"width": 1080, "height": 1920, "ratio": "9:16", "fps": 30},
        "generated_media": [],
        "version": session.version,
        "updated_at": session.updated_at,
    }
