"""Credentials out of everything dibpy shows: the one redactor, and a logging filter using it.

``redact_url`` masks the password of every ``scheme://user:password@`` in a text: a single
URL, a command line, a line of a program's output (``Get:1 http://u:pw@mirror ...``), an
error message. dibpy applies it where text leaves for people: the command log of the
runner, its errors, the build events, the log handlers (terminal, ``--log-file``) and the
manifest. What is passed to programs is never redacted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"

# scheme://user:password@ -- the user stops at the first ':' and the password runs to the
# last '@' before the end of the host part ('/', '?', '#', a space or a quote), as urlsplit
# reads a netloc, so "http://u:p@ss@host/" masks "p@ss".
_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:'\"<>\\]*):[^\s/?#'\"<>\\]*@"
)


def redact_url(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it masked
    (``http://user:***@host``), and every one of ``secrets`` (as given and percent-decoded)
    masked wherever it appears, for passwords known to show up outside a URL."""
    text = _USERINFO.sub(rf"\g<head>:{MASK}@", text)
    for secret in secrets:
        for form in {secret, unquote(secret)}:
            if form:
                text = text.replace(form, MASK)
    return text


class RedactFilter(logging.Filter):
    """Masks URL passwords in a record (message, traceback, stack) in place, so that the
    handler it is attached to, and any handler after it, shows only redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = redact_url(message)
        if shown != message:
            record.msg, record.args = shown, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_url(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_url(record.stack_info)
        return True


__all__ = ["MASK", "RedactFilter", "redact_url"]
