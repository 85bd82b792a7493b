"""Masking of secrets in everything that leaves the process.

Tokens must never reach a log line, a journal, an `error.txt`, a report, the
status file or a command's output, even when the service quotes one in an
error message. One `Redactor` masks anything shaped like a NemoVideo token
(`nmv_usr_...`), a claim token (`clm_...`) or a Bearer value, plus any literal
secret registered at start-up (a user-supplied token of unusual shape). The
logging filter, the journal, the status file, the result files and the command
line's output streams all use it; only the 0600 token cache holds a token.
"""

from __future__ import annotations

import io
import logging
import re
from typing import TextIO

MASK = "***"

# Deliberately broad: masking a harmless word ("the bearer of news") is a
# smaller harm than letting one token through.
_PATTERN = re.compile(
    r"(?P<token>\b(?:nmv_[A-Za-z0-9]*_?|clm_)[A-Za-z0-9._~+/=-]+)"
    r"|(?P<bearer>\bBearer\s+)[^\s'\",;]+",
    re.IGNORECASE,
)


class Redactor:
    """Masks token-shaped strings and registered literal secrets."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def register(self, secret: str) -> None:
        """Mask this exact value too (ignored when too short to be a secret)."""
        if len(secret) >= 8:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        lowered = text.lower()
        # the expression is slow to scan with; most texts hold none of its prefixes
        if "nmv_" not in lowered and "clm_" not in lowered and "bearer" not in lowered:
            return text
        return _PATTERN.sub(_replace, text)


def _replace(match: re.Match[str]) -> str:
    if match.group("bearer"):
        return match.group("bearer") + MASK
    token = match.group("token")
    prefix = "clm_" if token.lower().startswith("clm_") else "nmv_"
    return prefix + MASK


#: the process-wide redactor used by the logging filter
redact = Redactor()


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the message and the traceback."""

    def __init__(self, redactor: Redactor = redact) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        return True


class RedactingWriter(io.TextIOBase):
    """A text stream that masks secrets in what is written to `stream` (a command's stdout)."""

    def __init__(self, stream: TextIO, redactor: Redactor = redact) -> None:
        super().__init__()
        self._stream = stream
        self._redact = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redact(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()
