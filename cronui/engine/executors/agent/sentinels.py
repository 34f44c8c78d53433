"""What a complete reply means: the placeholders of the message sent, the sentinels a reply may start or
end with (TASK_FAILED, HEARTBEAT_OK, ...), and a gateway's transient error rendered as the reply."""

from __future__ import annotations

import re
from typing import Any

from cronui.engine.executors.agent.reply import Reply
from cronui.engine.executors.base import Outcome, permanent_failure
from cronui.model import RunStatus

PLACEHOLDER = re.compile(r"\{(job|scheduled_for|last_output|gate_output|payload|param\.[A-Za-z_][A-Za-z0-9_]{0,63})\}")
FAILED_SENTINEL = "TASK_FAILED"
QUIET_SENTINELS = ("HEARTBEAT_OK", "NO_REPLY", "NO_FLUSH", "IDEMPOTENT_SKIP")
# A sentinel is the reply's first token (then its end, whitespace or a colon) or starts its last line.
SENTINEL = re.compile(rf"\A({'|'.join((FAILED_SENTINEL, *QUIET_SENTINELS))})(?:\Z|[\s:])[ \t:]*([^\n]*)")
# A whole reply that is a gateway's transient error rendered as content ("Rate limit exceeded, retry in
# 20s", "Error: 529 Overloaded"): one short line, the phrase, then nothing or a clause after punctuation.
# Anything longer, or any sentence that merely mentions the words, is a reply.
TRANSIENT_REPLY = re.compile(
    r"""\A\W*(?:(?:api|upstream|provider|gateway|server)?\s*error\W*)?(?:\d{3}\W*)?
    (?:rate[\s_-]?limit(?:ed|[\s_]exceeded|[\s_]reached|[\s_]error)?
      |too\ many\ requests
      |(?:the\ )?(?:server|model|service|engine|upstream|provider|api)?\s*(?:is\ )?(?:currently\ )?overloaded(?:_error)?
      |(?:service|model|server)\ (?:is\ )?(?:temporarily\ )?unavailable
      |bad\ gateway|gateway\ time-?out|upstream\ (?:connect\ )?(?:error|timeout)|request\ timed\ out)
    (?:\W*\Z|\s*[.:;,!(\[-][^\n]{0,120}\Z)""",
    re.IGNORECASE | re.VERBOSE,
)
TRANSIENT_REPLY_MAX = 160  # characters: a longer reply is never taken for a gateway's error text


def render_message(template: str, values: dict[str, str]) -> str:
    """Substitute only the named placeholders, in one pass (a value's own braces are never read again); any
    other braces (JSON in a prompt) pass through, and so does `{param.K}` for a K the run has no value of."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def find_sentinel(text: str) -> tuple[str, str] | None:
    """(sentinel, the text after it on its line) when the reply starts with one or its last line does."""
    for candidate in (text.strip(), last_line(text)):
        if m := SENTINEL.match(candidate):
            return m.group(1), m.group(2).strip()
    return None


def transient_reply(text: str) -> bool:
    """Whether the whole reply is a gateway's transient error (rate limit, overloaded, unavailable)."""
    text = text.strip()
    return 0 < len(text) <= TRANSIENT_REPLY_MAX and TRANSIENT_REPLY.match(text) is not None


def verdict(reply: Reply, fields: dict[str, Any], memory: dict[str, Any]) -> Outcome:
    """What a complete reply means: a sentinel's word, or a success."""
    found = find_sentinel(reply.text)
    if found and found[0] == FAILED_SENTINEL:
        error = found[1] or "the agent reported TASK_FAILED"
        return permanent_failure(error, fields=fields, memory=memory)
    if found:
        return Outcome(
            RunStatus.SUCCEEDED,
            fields=fields,
            memory=memory,
            deliver_text=reply.text,
            suppress_delivery=f"the agent replied {found[0]}",
        )
    return Outcome(RunStatus.SUCCEEDED, fields=fields, memory=memory, deliver_text=reply.text)
