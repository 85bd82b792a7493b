"""Media constants in one place: the file types NemoVideo accepts, and what a MB is."""

from __future__ import annotations

VIDEO_TYPES = ("mp4", "mov", "avi", "webm", "mkv")
IMAGE_TYPES = ("jpg", "png", "gif", "webp")
AUDIO_TYPES = ("mp3", "wav", "m4a", "aac")
MEDIA_TYPES = VIDEO_TYPES + IMAGE_TYPES + AUDIO_TYPES
#: link files: the service fetches the address they hold (upload by URL), no bytes are sent
LINK_TYPES = ("url", "webloc", "link")

#: jobs.max_file_mb counts these, as the service's 500 MB limit does
MB = 1024 * 1024
GB = 1024 * MB
