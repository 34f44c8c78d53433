"""How much of a conversation an agent run carries and records.

A persistent (or session) conversation is sent with every run and stored again after it, and a run's
record keeps the request it sent: unbounded, a history of `keep_turns` (up to 10,000) turns of replies
up to the output cap each would be tens of MiB, decoded, encoded and written on every run. So the
history carried is the newest turns whose texts add up to at most HISTORY_CAP characters (about 1 MiB;
whatever `keep_turns` says), and the run's record keeps the request's newest RECORDED_MESSAGES messages,
each cut to RECORDED_TEXT_CAP characters, secrets masked (the model got them whole).
"""

from __future__ import annotations

from typing import Any

from cronui.engine.executors.base import RunContext

HISTORY_CAP = 1 << 20  # characters of conversation carried to the next run: the newest turns within it
RECORDED_MESSAGES = 20  # messages of a request kept on the run's record: the newest
RECORDED_TEXT_CAP = 16_000  # characters of one message kept there: its head and tail


def _size(message: object) -> int:
    content = message.get("content") if isinstance(message, dict) else message
    return len(content) if isinstance(content, str) else len(str(content))


def _cut(text: str, cap: int) -> str:
    """`text` within about `cap` characters: its head and tail, saying how much was left out."""
    if len(text) <= cap:
        return text
    half = cap // 2
    return f"{text[:half]}\n… [{len(text) - 2 * half:,} characters omitted] …\n{text[-half:]}"


def carried(history: list[dict[str, Any]], cap: int = HISTORY_CAP) -> list[dict[str, Any]]:
    """The newest whole turns (a message and its reply) of `history` whose texts add up to at most `cap`
    characters. The newest turn alone over the cap is kept with each text cut to its head and tail, so
    a conversation never loses its last exchange. Walks back from the newest: a history saved before the
    cap costs what is kept, not what it holds."""
    kept = size = 0
    for message in reversed(history):
        size += _size(message)
        if size > cap:
            break
        kept += 1
    kept -= kept % 2  # whole turns: a reply never without the message it answers
    if kept == 0 and history:
        newest = history[-2:]
        share = cap // len(newest)
        return [{**m, "content": _cut(m["content"], share)} if isinstance(m.get("content"), str) else m for m in newest]
    return history[len(history) - kept :]


def recorded_body(body: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """The request body as the run's record keeps it: its settings, and its newest RECORDED_MESSAGES
    messages with each text cut to RECORDED_TEXT_CAP characters (head and tail), secrets masked."""
    messages = [
        {**m, "content": ctx.mask(_cut(m["content"], RECORDED_TEXT_CAP))} if isinstance(m.get("content"), str) else m
        for m in body.get("messages", [])[-RECORDED_MESSAGES:]
    ]
    return {**body, "messages": messages}
