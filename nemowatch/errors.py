"""One exception tree for everything nemowatch raises on purpose.

    NemoError
    ├── ConfigError                 the configuration file or an override is invalid
    ├── UsageError                  a command line that cannot be carried out as given (exit 2)
    ├── InputError                  a job's files cannot be processed as they are
    │   ├── DuplicateJobError       the same media and instructions were delivered lately
    │   └── LinkError               a .url, .webloc or .link file holds no usable http(s) address
    ├── EditNotAppliedError         a turn's stream broke and the project never changed
    ├── FileChangedError            a file changed while it was being claimed
    ├── JobRemovedError             the job's folder was removed: the job is cancelled
    ├── IllegalTransitionError      a stage change the journal does not allow (a bug)
    ├── TidyingError                after delivery: the report or the originals' move failed
    ├── ServiceError                the systemd unit cannot be installed or removed
    ├── AlreadyRunningError         another daemon holds this inbox's or state folder's lock
    └── ApiError                    anything that went wrong talking to NemoVideo
        ├── TransportError          no usable answer: connection, timeout, cut stream
        │   ├── StreamIdleError     only heartbeats for api.sse_idle_timeout_seconds
        │   ├── UploadUnknownError  the upload's body was sent, its answer never came
        │   ├── IncompleteDownloadError  body shorter or longer than Content-Length
        │   └── NotAVideoError      a download that is not the video (no MP4 `ftyp` box)
        ├── AgentError              the edit stream carried an error event
        ├── AnswerTooLargeError     a JSON answer over 16 MB, refused before it was read whole
        ├── RenderFailedError       a render ended with status "failed"
        ├── RenderTimeoutError      a render did not finish within export.timeout_seconds
        └── ApiCodeError            an answer with an error code (envelope or HTTP status)
            ├── TokenError          1001: token invalid or expired
            │   └── TokenRejectedError  1001 for a token the user supplied
            ├── SessionLostError    1002: session not found or expired
            ├── OutOfCreditsError   2001
            ├── UnsupportedFileError 4001
            ├── FileTooLargeError   4002
            ├── ClientIdError       400: missing X-Client-Id
            ├── PlanBlockedError    402: export blocked by the plan
            ├── ScopeError          403: token lacks a scope
            ├── RenderNotFoundError 4103: the service does not know the render id
            ├── RateLimitedError    429 (retry_after from Retry-After)
            ├── TokenQuotaError     429 on the anonymous-token call (a weekly quota, not a wait)
            ├── ServerError         5xx
            └── (ApiCodeError)      any other non-zero code, kept as it came

The error policy is a lookup on the type: `transient` says whether a retry can
help, `account_wide` whether the condition concerns every job rather than one.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes of every `nemowatch` command."""

    OK = 0
    FAILED = 1  # a job or a check failed
    USAGE = 2  # usage or configuration error
    START = 3  # could not start (the daemon, the emulator)


class NemoError(Exception):
    """Root of every error nemowatch raises on purpose."""


class ConfigError(NemoError):
    """The configuration is invalid; `problems` lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


class UsageError(NemoError):
    """A command cannot be carried out as given (exit 2); nothing was changed."""


class InputError(NemoError):
    """A job's files cannot be processed; the message says how to fix them."""


class DuplicateJobError(InputError):
    """The same media and instructions were delivered within `jobs.duplicate_days`:
    the job is not sent (paying again is `retry --start-over`)."""


class NothingToRefineError(InputError):
    """`NAME.refine.txt` names no result delivered within `jobs.refine_days`."""


class LinkError(InputError):
    """A link file (`.url`, `.webloc`, `.link`) holds no usable http(s) address.

    An input error like any other: the job fails before anything is paid, and
    the message names the file and says how to fix it. A file that could not
    be read keeps its `OSError` as `__cause__`.
    """


class EditNotAppliedError(NemoError):
    """A turn's stream broke and the project never changed afterwards."""

    def __init__(self, message: str, *, cause: str | None = None) -> None:
        super().__init__(message)
        #: the service's fault that broke the stream (None: it answered, and nothing changed)
        self.cause = cause


class FileChangedError(NemoError):
    """A file's size or mtime differs from when it was found settled; the claim is undone."""


class JobRemovedError(NemoError):
    """The job's folder under work was removed (how a user cancels by hand)."""


class IllegalTransitionError(NemoError):
    """A stage change the journal does not allow: a bug, never silently continued."""


class TidyingError(NemoError):
    """The result is delivered, but writing its report or moving the originals failed.

    Never a job failure: the result stays, and the rest is tried again later.
    """

    def __init__(self, result: str, cause: OSError) -> None:
        self.result, self.cause = result, cause
        super().__init__(f"delivered {result}, but could not put the rest away: {cause}")


class ServiceError(NemoError):
    """The unit cannot be installed or removed; `usage` marks a wrong command line."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


class AlreadyRunningError(NemoError):
    """Another daemon holds the lock of this work folder or state folder."""

    def __init__(self, path: object, holder: str | None) -> None:
        self.path, self.holder = path, holder
        who = holder or "another process"
        super().__init__(
            f"another nemowatch daemon ({who}) already uses this folder (lock {path}); "
            "stop it first, or give this one other folders"
        )


class ApiError(NemoError):
    """Something went wrong talking to the NemoVideo API."""

    #: a retry of the same request may succeed
    transient: bool = False
    #: the condition concerns the account (pause all paid work), not one job
    account_wide: bool = False


class TransportError(ApiError):
    """No usable answer: connection refused or dropped, timeout, cut stream."""

    transient = True


class UploadUnknownError(TransportError):
    """An upload's body was sent whole, then the answer never came.

    The session may hold the files already: not retried into it (a second copy
    could end up in the edit); the pipeline uploads into a new session instead.
    """

    transient = False


class StreamIdleError(TransportError):
    """The SSE stream carried only heartbeats for too long; the turn is lost."""


class IncompleteDownloadError(TransportError):
    """A download ended with a different size than announced."""


class NotAVideoError(TransportError):
    """A downloaded result does not start as an MP4 does: an error page, not the video."""


class AgentError(ApiError):
    """The edit stream carried an error event without a code of the table."""

    def __init__(self, message: str, *, code_text: str = "") -> None:
        self.code_text = code_text
        super().__init__(
            f"the editor reported an error{f' ({code_text})' if code_text else ''}: {message}"
        )


class AnswerTooLargeError(ApiError):
    """A JSON answer larger than any the API gives: refused, not read into memory."""


class RenderFailedError(ApiError):
    """A render ended with status "failed"."""


class RenderTimeoutError(ApiError):
    """A render did not complete within export.timeout_seconds."""


class ApiCodeError(ApiError):
    """An answer carrying an error code, from the envelope or the HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        http_status: int | None = None,
        endpoint: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.http_status = http_status
        self.endpoint = endpoint
        #: the server's Retry-After hint in seconds, when it sent one
        self.retry_after = retry_after
        self.api_message = message
        where = f" on {endpoint}" if endpoint else ""
        super().__init__(f"NemoVideo answered code {code}{where}: {message}")


class TokenError(ApiCodeError):
    """1001: the token is invalid or expired."""


class SessionLostError(ApiCodeError):
    """1002: the session was not found or has expired."""


class RefinedSessionLostError(SessionLostError):
    """1002 for a refinement: the session of the result it refines is gone, so it
    cannot continue it (`retry --start-over` redoes everything, paying again)."""


class OutOfCreditsError(ApiCodeError):
    """2001: not enough credits for the operation."""

    account_wide = True


class UnsupportedFileError(ApiCodeError):
    """4001: the file type is not accepted."""


class FileTooLargeError(ApiCodeError):
    """4002: the file is over the size limit."""


class ClientIdError(ApiCodeError):
    """400: the X-Client-Id header was missing or unusable."""


class PlanBlockedError(ApiCodeError):
    """402: export is blocked for the account's plan (not a credit problem)."""

    account_wide = True


class RenderNotFoundError(ApiCodeError):
    """4103: no such render (the emulator's code; the API page leaves it open)."""


class ScopeError(ApiCodeError):
    """403: the token lacks a scope needed for this call."""


class RateLimitedError(ApiCodeError):
    """429: too many requests; `retry_after` is the server's hint in seconds."""

    transient = True


class TokenQuotaError(ApiCodeError):
    """429 on the anonymous-token call: the 7-day token quota is spent."""

    transient = False
    account_wide = True


class ServerError(ApiCodeError):
    """5xx: the service failed; usually worth a retry."""

    transient = True


class TokenRejectedError(TokenError):
    """1001 for a token the user supplied: it must be replaced, not renewed."""

    account_wide = True


#: envelope codes and HTTP statuses with a class of their own
CODE_ERRORS: dict[int, type[ApiCodeError]] = {
    1001: TokenError,
    1002: SessionLostError,
    2001: OutOfCreditsError,
    4001: UnsupportedFileError,
    4002: FileTooLargeError,
    400: ClientIdError,
    402: PlanBlockedError,
    403: ScopeError,
    4103: RenderNotFoundError,
    429: RateLimitedError,
}


def error_for_code(
    code: int,
    message: str,
    *,
    http_status: int | None = None,
    endpoint: str = "",
    retry_after: float | None = None,
) -> ApiCodeError:
    """Build the exception of the tree that stands for an envelope code or HTTP status."""
    cls = CODE_ERRORS.get(code)
    if cls is None and 500 <= code <= 599:
        cls = ServerError
    return (cls or ApiCodeError)(
        message, code=code, http_status=http_status, endpoint=endpoint, retry_after=retry_after
    )


class NotFoundError(UsageError):
    """No job (or failed job) by that id or name: nothing was changed."""


class AmbiguousError(UsageError):
    """A name that several jobs share; `ids` lists them, to pick one by its id."""

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


class DaemonNotRunningError(NemoError):
    """No daemon answers on the local API's socket (the command needs a running one)."""
