"""Watching the inbox: which files make a job, when they are complete, and the events.

- `rules` (with `files`, `pairing`, `problems`): pure functions of names,
  sizes and times that decide what is ready, what waits and what must fail;
- `inbox.Inbox`: the scanner that keeps the table of what is in the inbox;
- `observer.InboxWatcher`: watchdog's thread bridged to the event loop.
"""

from nemowatch.watch.inbox import Inbox
from nemowatch.watch.observer import InboxWatcher, WatchEvent
from nemowatch.watch.rules import Candidate, Entries, FileKind, Plan, Seen, Waiting, plan

__all__ = [
    "Candidate",
    "Entries",
    "FileKind",
    "Inbox",
    "InboxWatcher",
    "Plan",
    "Seen",
    "Waiting",
    "WatchEvent",
    "plan",
]
