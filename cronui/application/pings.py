"""Check jobs' pings, whichever face reports them (`cronui ping`, `cronui exec`, `GET|POST /ping/NAME`): each is
a run with trigger `ping` (see cronui.engine.pings), refused for a job that is not a check."""

from __future__ import annotations

from cronui.application.context import Cronui
from cronui.engine.pings import MESSAGE_CAP, Ping, PingKind, ping_from_exit
from cronui.jobs import JobError
from cronui.model import Run

__all__ = ["MESSAGE_CAP", "Ping", "PingKind", "parse_kind", "ping", "ping_from_exit"]


def parse_kind(word: str) -> Ping:
    """A ping's kind as the API's path says it (`start`, `fail`, an exit code 0-255; `''`: a success)."""
    if word in ("", "success"):
        return Ping(PingKind.SUCCESS)
    if word in ("start", "fail"):
        return Ping(PingKind(word))
    if word.isascii() and word.isdigit() and int(word) <= 255:
        return ping_from_exit(int(word))
    raise JobError("ping", f"expected start, fail or an exit code 0-255, got {word!r}")


async def ping(app: Cronui, name: str, report: Ping) -> Run:
    """Record a ping of check `name`; the run it made or closed."""
    return await app.control.ping(name, report)
