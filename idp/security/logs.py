"""Log lines that untrusted values cannot forge: control characters are escaped.

An email address, a path or a header may carry a newline (or another control character) that
would start a line of the attacker's choosing. The filter escapes the final message (format and
arguments together) on every handler the service configures, in the text and the JSON format.
"""

from __future__ import annotations

import logging
import re
from typing import IO

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    r"""`text` with each control character written as an escape (\n, \x1b, \u2028)."""

    def escaped(match: re.Match[str]) -> str:
        char = match.group()
        return char.encode("unicode_escape").decode("ascii")

    return CONTROL.sub(escaped, text)


class EscapeControlCharacters(logging.Filter):
    """Rewrites a record's message, arguments merged, with control characters escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken format string: the handler reports it as usual
        record.msg, record.args = escape_control(message), None
        return True


def install_escaping(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        if not any(isinstance(f, EscapeControlCharacters) for f in handler.filters):
            handler.addFilter(EscapeControlCharacters())


def configure_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """The service's logging: one line per record on stderr (or `stream`), never forgeable."""
    logging.basicConfig(level=level, format=FORMAT, stream=stream)
    install_escaping(logging.getLogger().handlers)
