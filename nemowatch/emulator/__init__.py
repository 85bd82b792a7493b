"""A local NemoVideo-compatible API server, for tests, benchmarks and the demo.

It speaks the protocol of ``nemovideo-api.md`` (same paths, envelope, codes,
headers and SSE event shapes), keeps a journal of what it received, and follows
a fault plan. It binds loopback only unless told otherwise.

Error codes the API page leaves open, chosen here (envelope codes, HTTP 200):

- 4003: an upload by URL whose URL could not be fetched: not loopback (the
  emulator fetches 127.0.0.0/8, ::1 and localhost only, and never the
  internet), refused, timed out, or answered other than HTTP 200.
- 4101: a render was submitted with a draft that has no non-empty segment.
- 4102: a render was submitted while another render of the same session is
  still pending or processing.
- 4103: no such render (unknown id, or another account's).
- 4104: the render's file was requested before the render completed.
"""

from nemowatch.emulator.control import EmulatorControl, EmulatorControlError
from nemowatch.emulator.faults import ENDPOINTS, FaultRule
from nemowatch.emulator.server import EmulatorServer, main, serve
from nemowatch.emulator.settings import EmulatorSettings, UserTokenSpec
from nemowatch.emulator.world import (
    EMPTY_DRAFT,
    FETCH_FAILED,
    RENDER_NOT_FOUND,
    RENDER_NOT_READY,
    RENDER_RUNNING,
)

__all__ = [
    "EMPTY_DRAFT",
    "ENDPOINTS",
    "FETCH_FAILED",
    "RENDER_NOT_FOUND",
    "RENDER_NOT_READY",
    "RENDER_RUNNING",
    "EmulatorControl",
    "EmulatorControlError",
    "EmulatorServer",
    "EmulatorSettings",
    "FaultRule",
    "UserTokenSpec",
    "main",
    "serve",
]
