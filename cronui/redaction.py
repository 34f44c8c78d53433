"""Passwords written into URLs, hidden wherever a URL is shown: a database URL (`--db`, `CRONUI_DB`) in
the daemon's lines, `status`, `locate db`, the TUI header and the stores' errors, and any URL that reaches
a log line. Both ways of writing one are covered: `scheme://user:PASSWORD@host` and a query parameter
such as `?password=...` (libpq and asyncpg read both). Plain data, no backend imports: every layer uses it.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

HIDDEN = "***"

# query parameters that carry a credential (compared without case)
SECRET_PARAMS = frozenset({"password", "sslpassword", "passwd", "pwd", "secret", "token", "access_token", "api_key"})

# a URL's authority with a password in it: scheme://user:password@ (user may be empty)
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)(?P<pw>[^\s/?#]*)(?P<at>@)")
# key=value in a query string (or a libpq keyword/value DSN: `password=...`)
_PARAM = re.compile(r"(?P<head>(?:^|(?<=[?&;\s]))(?P<key>[A-Za-z_]+)=)(?P<value>[^&#\s]*)")


def redacted(url: str) -> str:
    """`url` with its password (in the user part or a credential parameter of its query) as ***; any other
    text unchanged. Idempotent: a redacted URL stays as it is."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL Python can split (a bad port, an unbalanced bracket): by pattern
        return redact_text(url)
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{HIDDEN}@{host}"
    return urlunsplit(parts._replace(netloc=netloc, query=_redact_query(parts.query)))


def _redact_query(query: str) -> str:
    return _PARAM.sub(lambda m: _hide_param(m, in_text=False), query) if query else query


def _hide_param(m: re.Match[str], in_text: bool = True) -> str:
    value = m.group("value")
    if m.group("key").lower() not in SECRET_PARAMS or not value:
        return m.group(0)
    # in free text a URL may end a clause ("...?password=x: refused"): that punctuation is not the password's
    tail = value[-1] if in_text and value[-1] in ":;,.)" and _ends_word(m) else ""
    return m.group("head") + HIDDEN + tail


def _ends_word(m: re.Match[str]) -> bool:
    return m.end() == len(m.string) or m.string[m.end()].isspace()


def redact_text(text: str) -> str:
    """Every URL password in free text (an error message, a log line) as ***."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: m.group("head") + (HIDDEN if m.group("pw") else "") + m.group("at"), text)
    return _PARAM.sub(_hide_param, text) if "=" in text else text


class RedactingFilter(logging.Filter):
    """A handler filter that hides URL passwords in every record it passes (the message with its arguments
    filled in, and a traceback's text), so no log line shows one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True
