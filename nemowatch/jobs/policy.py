"""The error policy: what a person is told, by the type of the error.

A job's own problem fails the job (`explain` gives error.txt's first line and
the advice). A condition of the account holds the work it concerns instead
(`account_condition` names it, `hold_reason` says why and what to do); the
job keeps its place. A fault of the moment (`keeps_trying`) is tried again
later, or holds every job when it is the network (see `nemowatch.network`).
"""

from __future__ import annotations

import errno

from nemowatch.conditions import Work
from nemowatch.errors import (
    AgentError,
    AnswerTooLargeError,
    ApiCodeError,
    ApiError,
    DuplicateJobError,
    EditNotAppliedError,
    FileTooLargeError,
    InputError,
    NotAVideoError,
    OutOfCreditsError,
    PlanBlockedError,
    RateLimitedError,
    RefinedSessionLostError,
    RenderFailedError,
    RenderTimeoutError,
    ScopeError,
    ServerError,
    SessionLostError,
    TokenQuotaError,
    TokenRejectedError,
    TransportError,
    UnsupportedFileError,
)
from nemowatch.media import MEDIA_TYPES

_EXPLAINED: list[tuple[type[BaseException], str, str]] = [
    (
        DuplicateJobError,
        "",
        "Nothing was sent or paid for this copy. To pay for the edit again on purpose, "
        "run `nemowatch retry NAME --start-over`; otherwise delete this folder.",
    ),
    (InputError, "", "Fix the file as described and drop the job into the inbox again."),
    (
        AnswerTooLargeError,
        "NemoVideo sent an answer far larger than any it should (over 16 MB); it was refused.",
        "Run `nemowatch retry NAME` later (it never pays twice); if it recurs, report it.",
    ),
    (
        UnsupportedFileError,
        "NemoVideo does not accept this type of file.",
        f"Convert it to one of: {', '.join(MEDIA_TYPES)}, and drop it again.",
    ),
    (
        FileTooLargeError,
        "The file is too large for NemoVideo.",
        "Compress or trim it to fit the service's limit and drop it again.",
    ),
    (
        EditNotAppliedError,
        "The editor did not apply the instructions: the project never changed.",
        "Nothing was sent twice. `nemowatch retry NAME --resend` sends that turn once more "
        "(paid again); to change the instructions first, edit the .txt here and run "
        "`nemowatch retry NAME --start-over` (every turn paid again).",
    ),
    (
        RenderFailedError,
        "NemoVideo could not render the edited video (it failed twice).",
        "Run `nemowatch retry NAME` to export again; the edit is not paid again.",
    ),
    (
        RenderTimeoutError,
        "The render did not finish in time.",
        "Run `nemowatch retry NAME` later, or raise export.timeout_seconds.",
    ),
    (
        RefinedSessionLostError,
        "The editing session of the result this refines is gone (NemoVideo keeps a "
        "project only for a while), so the refinement could not be sent.",
        "`nemowatch retry NAME --start-over` redoes the original instructions and this "
        "refinement in a new session, from the archived originals (every turn paid again; "
        "it says what that costs first).",
    ),
    (
        SessionLostError,
        "The editing session was lost (NemoVideo no longer knows it).",
        "`nemowatch retry NAME --start-over` starts a new session and sends every turn "
        "again (paid again); plain `nemowatch retry NAME` never pays twice.",
    ),
    (
        ScopeError,
        "The API token is not allowed to do this step.",
        "Use a token with the upload, write and render scopes (api.token / NEMO_TOKEN).",
    ),
    (
        AgentError,
        "The editor reported an error while working on the instructions.",
        "`nemowatch retry NAME` reads the project again (free); `--resend` sends the turn "
        "once more (paid again); rephrase the .txt and use `--start-over` if it recurs.",
    ),
    (
        TransportError,
        "NemoVideo could not be reached, even after several retries.",
        "Check the network connection, then run `nemowatch retry NAME`.",
    ),
    (
        ServerError,
        "NemoVideo kept answering with a server error.",
        "Nothing was paid twice. Run `nemowatch retry NAME` later: it resumes at this step "
        "(jobs.transient_give_up_minutes says how long a job keeps trying).",
    ),
    (
        RateLimitedError,
        "NemoVideo kept asking to slow down (429).",
        "Nothing was paid twice. Run `nemowatch retry NAME` later: it resumes at this step.",
    ),
]


def explain(exc: BaseException, shown: str | None = None) -> tuple[str, str]:
    """(one plain sentence, what to do next) for a job that failed with `exc`.

    Args:
        shown: the file a local error concerns, as the person knows it (its inbox path).
    """
    if isinstance(exc, OSError):
        return explain_local(exc, shown)
    if isinstance(exc, EditNotAppliedError) and exc.cause:
        return (
            f"NemoVideo failed while applying the instructions ({exc.cause}), "
            "and the project did not change afterwards.",
            "The fault was on NemoVideo's side, not in your instructions. "
            "`nemowatch retry NAME --resend` sends that turn once more (paid again); "
            "plain `nemowatch retry NAME` reads the project again for free.",
        )
    if isinstance(exc, ApiCodeError) and (exc.http_status or 0) >= 500:
        return (
            f"NemoVideo had a fault on its side (HTTP {exc.http_status}) and kept failing.",
            "Nothing was paid twice. Run `nemowatch retry NAME` later: it resumes at this step.",
        )
    for cls, sentence, advice in _EXPLAINED:
        if isinstance(exc, cls):
            if isinstance(exc, ApiCodeError) and exc.api_message:
                sentence = f"{sentence[:-1]} (NemoVideo said: {exc.api_message})."
            return sentence or str(exc), advice
    if isinstance(exc, ApiCodeError):
        return (
            f"NemoVideo refused the job (code {exc.code}: {exc.api_message}).",
            "Run `nemowatch retry NAME`; if it fails the same way, the job needs changing.",
        )
    return f"The job failed unexpectedly: {exc}.", "Run `nemowatch retry NAME`; see job.log."


#: local errors: (sentence with {file}, what to do)
_LOCAL = {
    errno.ENOSPC: ("The disk holding {file} is full.", "Free some space, then run {retry}."),
    errno.EDQUOT: ("The disk quota for {file} is used up.", "Free some space, then run {retry}."),
    errno.EROFS: ("{file} is on a read-only disk.", "Remount it read-write, then run {retry}."),
    errno.EACCES: (
        "nemowatch is not allowed to read or write {file} (permission denied).",
        "Give the user nemowatch runs as access to it (or copy it in as that user), "
        "then run {retry}.",
    ),
    errno.ENAMETOOLONG: (
        "The name {file} is too long for the disk.",
        "Rename it shorter and drop it into the inbox again.",
    ),
    errno.ENOENT: (
        "{file} disappeared while the job was using it.",
        "Put it back (or drop the job again), then run {retry}.",
    ),
    errno.EIO: (
        "The disk reported a read or write error on {file}.",
        "Check the disk (and copy the file anew), then run {retry}.",
    ),
}
_LOCAL[errno.EPERM] = _LOCAL[errno.EACCES]


def explain_local(exc: OSError, shown: str | None) -> tuple[str, str]:
    """A local disk, permission or name error, naming the file as the person knows it."""
    file = shown or (str(exc.filename) if exc.filename else "a file of the job")
    sentence, advice = _LOCAL.get(
        exc.errno or 0,
        ("A local error stopped the job at {file}: {why}.", "Fix that, then run {retry}."),
    )
    why = exc.strerror or str(exc)
    return sentence.format(file=file, why=why), advice.format(retry="`nemowatch retry NAME`")


def hold_reason(exc: ApiError, *, web_url: str, client_id: str | None) -> str:
    """Why all paid work is paused, and what the person can do about it."""
    if isinstance(exc, OutOfCreditsError):
        if client_id:
            return (
                "out of credits: register for free at "
                f"{web_url}/?bind={client_id} or top up; nemowatch resumes by itself"
            )
        return "out of credits: top up your NemoVideo account; nemowatch resumes by itself"
    if isinstance(exc, PlanBlockedError):
        return "export is blocked for this account's plan (402): upgrade the plan"
    if isinstance(exc, TokenRejectedError):
        return "the configured API token was rejected: replace api.token / NEMO_TOKEN"
    if isinstance(exc, TokenQuotaError):
        return "the anonymous-token quota is spent: set NEMO_TOKEN to your own token"
    return f"paused: {exc}"


#: the conditions of the account: an error of one of these types holds work, not the job
ACCOUNT_CONDITIONS: dict[type[ApiError], tuple[str, Work]] = {
    OutOfCreditsError: ("credits", Work.PAID_TURNS),
    PlanBlockedError: ("plan", Work.EXPORTS),
    TokenRejectedError: ("token", Work.API),
    TokenQuotaError: ("quota", Work.API),
}


def account_condition(exc: ApiError) -> tuple[str, Work]:
    """(condition name, the work it holds) for an account-wide error."""
    for cls, condition in ACCOUNT_CONDITIONS.items():
        if isinstance(exc, cls):
            return condition
    return ("account", Work.API)


def keeps_trying(exc: ApiError) -> bool:
    """A fault of the moment that outlasted the step's retries: the step is worth trying
    again later. A download that is not a video is what the service gave, not a fault."""
    return exc.transient and not isinstance(exc, NotAVideoError)


def api_code(exc: BaseException) -> int | None:
    return exc.code if isinstance(exc, ApiCodeError) else None
