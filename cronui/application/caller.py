"""Who is asking: every use case runs for a `Caller` — where the request came from (the CLI, the TUI, the
HTTP API, MCP, a job's hook, a run of an agent job), who it is there (`USER@HOST` or a token's name), and
what it may do (its scope).

The host's own user (CLI, TUI) is an unlimited admin; callers that come through the API or MCP carry the
scope of their token and are held to the `[policy]`. A job's `owner` is the caller that created it
(`cli:USER@HOST`, `tui:USER@HOST`, `api:TOKEN`, `mcp:TOKEN`), and the audit log names the caller of
each change the same way."""

from __future__ import annotations

import enum
import getpass
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ORIGINS = ("cli", "tui", "api", "mcp", "hook", "agent")


class Scope(enum.IntEnum):
    """What a token may do; each scope includes the ones below it.

    read: list, get, explain, why; run: + run now, approve/reject, pause/resume; write: + create, update,
    delete within the policy; admin: everything (tokens, alerts, settings)."""

    READ = 1
    RUN = 2
    WRITE = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Scope:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"scope: {text!r} is not one of read, run, write, admin") from None


@dataclass(frozen=True)
class Caller:
    """One request's caller. `limited`: held to the `[policy]` (API and MCP tokens); the host's own user
    is not. `policy`: a token's own overrides of the `[policy]` (checked values by key), merged over it for
    this caller."""

    origin: str  # one of ORIGINS
    who: str  # USER@HOST for the host's user; a token's name for API and MCP callers
    scope: Scope = Scope.ADMIN
    limited: bool = False
    policy: Mapping[str, Any] | None = None

    @property
    def owner(self) -> str:
        """What a job this caller creates records as its owner, and the audit log as who changed it."""
        return f"{self.origin}:{self.who}"

    def may(self, scope: Scope) -> bool:
        return self.scope >= scope


def host_user() -> str:
    """`USER@HOST` of this process (what `cli:` and `tui:` owners name)."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in this environment (a container without a passwd entry)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def local(origin: str = "cli") -> Caller:
    """The host's own user on the CLI or the TUI: admin, not held to the policy."""
    return Caller(origin, host_user(), Scope.ADMIN, limited=False)


def require(caller: Caller, scope: Scope) -> None:
    """Refuse (Forbidden, the API's 403) what the caller's scope does not cover, naming the scope needed."""
    if not caller.may(scope):
        from cronui.application.errors import Forbidden

        raise Forbidden(
            f"this needs the {scope.label} scope; the token {caller.who!r} has {caller.scope.label}", rule="scope"
        )
