"""Notifications: the command and Apprise URLs, told what happened to the jobs.

`Notifier` decides what is worth a message and when (quiet hours, lasting
conditions, the daily summary); `channels` sends, off the daemon's path, with
retries; `urls` masks the secrets inside Apprise URLs wherever they are shown.
"""

from nemowatch.notify.channels import Sender
from nemowatch.notify.note import Note
from nemowatch.notify.notifier import TICK_SECONDS, Notifier, SummarySource
from nemowatch.notify.urls import apprise_problem, mask_url, masked_urls

__all__ = [
    "TICK_SECONDS",
    "Note",
    "Notifier",
    "Sender",
    "SummarySource",
    "apprise_problem",
    "mask_url",
    "masked_urls",
]
