"""The session state and its draft: readiness, a human summary, a fingerprint.

The draft uses the backend's short keys: `t` tracks; per track `tt` type
(0 video, 1 audio, 7 text) and `sg` segments; per segment `d` duration in
milliseconds and `m` metadata. Anything else is kept as it came and ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

TRACK_LABELS = {0: "Video", 1: "Audio", 7: "Title"}
#: keys under which a segment's start (ms) has been seen; the docs do not say
_START_KEYS = ("s", "st", "start", "start_ms")
_NAME_KEYS = ("name", "title", "text", "label", "file_name")


@dataclass(frozen=True)
class Segment:
    start_ms: int
    duration_ms: int
    meta: dict[str, Any]

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms

    @property
    def name(self) -> str:
        for key in _NAME_KEYS:
            value = self.meta.get(key)
            if isinstance(value, str) and value:
                return value
        return ""

    @classmethod
    def parse(cls, raw: Any) -> Segment:
        raw = raw if isinstance(raw, dict) else {}
        meta = raw.get("m") if isinstance(raw.get("m"), dict) else {}
        start = next((raw[k] for k in _START_KEYS if isinstance(raw.get(k), int | float)), 0)
        duration = raw.get("d") if isinstance(raw.get("d"), int | float) else 0
        return cls(int(start), int(duration), dict(meta))


@dataclass(frozen=True)
class Track:
    kind: int
    segments: tuple[Segment, ...]
    meta: dict[str, Any]

    @classmethod
    def parse(cls, raw: Any) -> Track:
        raw = raw if isinstance(raw, dict) else {}
        kind = raw.get("tt") if isinstance(raw.get("tt"), int) else -1
        segments = raw.get("sg") if isinstance(raw.get("sg"), list) else []
        meta = raw.get("m") if isinstance(raw.get("m"), dict) else {}
        return cls(kind, tuple(Segment.parse(s) for s in segments), dict(meta))

    def label(self) -> str:
        if self.kind == 1 and self._is_music():
            return "BGM"
        return TRACK_LABELS.get(self.kind, f"Track type {self.kind}")

    def _is_music(self) -> bool:
        kinds = [self.meta.get("kind")] + [s.meta.get("kind") for s in self.segments]
        return any(isinstance(k, str) and k.lower() in ("bgm", "music") for k in kinds)

    def describe(self) -> str:
        """One track as the summary line shows it: `BGM: Lo-fi (0-10s, 35%)`."""
        names = [s.name for s in self.segments if s.name]
        name = ", ".join(dict.fromkeys(names)) or f"{len(self.segments)} segment(s)"
        if self.kind == 7 and names:
            name = ", ".join(f'"{n}"' for n in dict.fromkeys(names))
        details = [_span(self.segments)] if self.segments else ["empty"]
        volume = next((s.meta.get("volume") for s in self.segments if "volume" in s.meta), None)
        if isinstance(volume, int | float):
            details.append(f"{round(volume * 100 if volume <= 1 else volume)}%")
        return f"{self.label()}: {name} ({', '.join(details)})"


def _span(segments: tuple[Segment, ...]) -> str:
    start = min(s.start_ms for s in segments) / 1000
    end = max(s.end_ms for s in segments) / 1000
    return f"{_seconds(start)}-{_seconds(end)}s"


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


@dataclass(frozen=True)
class Draft:
    tracks: tuple[Track, ...]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, raw: Any) -> Draft:
        raw = raw if isinstance(raw, dict) else {}
        tracks = raw.get("t") if isinstance(raw.get("t"), list) else []
        return cls(tuple(Track.parse(t) for t in tracks), raw)

    @property
    def is_ready_for_export(self) -> bool:
        """At least one track with a non-empty segment list, as the API page defines it."""
        return any(track.segments for track in self.tracks)

    @property
    def duration_ms(self) -> int:
        return max((s.end_ms for t in self.tracks for s in t.segments), default=0)

    def summary(self) -> str:
        """`Timeline (3 tracks): 1. Video: ... 2. BGM: ... 3. Title: ...`"""
        if not self.tracks:
            return "Timeline (empty)"
        parts = " ".join(f"{i}. {t.describe()}" for i, t in enumerate(self.tracks, 1))
        plural = "track" if len(self.tracks) == 1 else "tracks"
        return f"Timeline ({len(self.tracks)} {plural}): {parts}"


@dataclass(frozen=True)
class SessionState:
    draft: Draft
    video_infos: list[Any]
    generated_media: list[Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, data: Any) -> SessionState:
        data = data if isinstance(data, dict) else {}
        state = data.get("state") if isinstance(data.get("state"), dict) else data
        return cls(
            draft=Draft.parse(state.get("draft")),
            video_infos=_list(state.get("video_infos")),
            generated_media=_list(state.get("generated_media")),
            raw=state,
        )

    def fingerprint(self) -> str:
        """A stable digest of what an edit changes (the draft and generated media).

        Keys are sorted, so the same content always gives the same digest;
        the uploaded-media list is left out because uploads are not edits.
        """
        content = {"draft": self.draft.raw, "generated_media": self.generated_media}
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []
