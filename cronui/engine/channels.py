"""Where alerts go and how they are sent: a channel is any apprise URL (`mailto://`, `tgram://`,
`ntfy://`, `json://`, ...) or, as before apprise, an https webhook posted in the job's
`--deliver-format` (slack, discord or json). `${env:NAME}` references in a URL are resolved only when it is
sent; what a channel answered is masked before it is kept or shown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx

from cronui import secrets
from cronui.engine import delivery
from cronui.masking import mask_channel
from cronui.model.alerts import AlertDefaults, AlertKind
from cronui.targets import DEFAULT_DELIVERY_FORMAT

SEND_DEADLINE_S = 30.0  # one attempt of one send, whatever the service does
ANSWER_CAP = 2000  # characters of a service's answer kept with the send


def split_channels(value: str | None) -> list[str]:
    """The channels of an `alert_to` / `deliver_to` value: URLs separated by spaces or commas (apprise's
    own way of naming several), in order, each once."""
    if not value:
        return []
    return list(dict.fromkeys(p for p in value.replace(",", " ").split() if p))


def routes(
    delivery_: Mapping[str, Any], notice: str, kind: str, defaults: AlertDefaults, job_on: list[str] | None = None
) -> list[tuple[str, str | None]]:
    """The (channel, format) pairs a notice goes to: the job's alert targets (`alert_to`, else its
    delivery target), else `[alerts] to`; none when the job's `--alert-on` (else `[alerts] on`) leaves out
    the episode's kind (a `recovered` notice follows its episode's kind and is sent unless `on` lists kinds
    without it)."""
    on = job_on if job_on is not None else defaults.on
    if on and (kind not in on or (notice == AlertKind.RECOVERED and AlertKind.RECOVERED not in on)):
        return []
    channels = split_channels(delivery_.get("alert_to")) or split_channels(delivery_.get("to")) or defaults.to
    fmt = delivery_.get("format") or DEFAULT_DELIVERY_FORMAT
    return [(c, fmt if is_webhook(c) else None) for c in channels]


def is_webhook(channel: str) -> bool:
    return channel.lower().startswith(("https://", "http://"))


def shown(channel: str) -> str:
    """A channel as every output shows it: `${env:NAME}` references as written, secrets masked."""
    return mask_channel(channel)


async def send(
    client: httpx.AsyncClient,
    channel: str,
    fmt: str | None,
    title: str,
    body: Mapping[str, Any],
    env: Mapping[str, str],
    deadline_s: float = SEND_DEADLINE_S,
) -> tuple[bool, str]:
    """One attempt to send a notice: (sent, what the service answered, masked and capped). Never raises;
    never takes longer than `deadline_s`."""
    found: list[str] = []
    try:
        target = secrets.resolve(channel, env, found)
    except secrets.MissingSecret as e:
        return False, str(e)
    if is_webhook(target):  # a `${env:NAME}` webhook too: what it names decides
        result = await delivery.post(client, channel, body, env, attempts=1, deadline_s=deadline_s)
        return result.status == delivery.DELIVERED, result.reason or "delivered"
    try:
        async with asyncio.timeout(deadline_s):
            ok, answer = await asyncio.to_thread(_apprise, target, title, str(body.get("text", "")))
    except TimeoutError:
        ok, answer = False, f"the service did not answer within {deadline_s:g}s"
    except Exception as e:  # apprise's plugins raise what their services do: record it, never let it out
        ok, answer = False, f"{type(e).__name__}: {e}"
    answer = secrets.mask(answer, [*found, *url_parts(target)])
    return ok, answer[-ANSWER_CAP:]


async def post_all(
    client: httpx.AsyncClient,
    value: str,
    body: Mapping[str, Any],
    text: str,
    title: str,
    env: Mapping[str, str],
    backoff_s: float = 1.0,
) -> delivery.Result:
    """A result or a notice posted to every channel of a `--deliver-to` / `--alert-to` value: one webhook
    exactly as before apprise (its format's body, retried); each other channel once through apprise with
    `text`. Delivered when every channel took it; else failed, saying which did not."""
    found = split_channels(value)
    if len(found) <= 1 and (not found or not is_channel(found[0], env)):
        return await delivery.post(client, value, body, env, backoff_s=backoff_s)
    failed: list[str] = []
    for channel in found:
        if is_channel(channel, env):
            ok, answer = await send(client, channel, None, title, {"text": text}, env)
            reason = None if ok else answer
        else:
            result = await delivery.post(client, channel, body, env, backoff_s=backoff_s)
            reason = None if result.status == delivery.DELIVERED else result.reason
        if reason is not None:
            failed.append(f"{shown(channel)}: {reason}")
    return delivery.Result(delivery.FAILED, "; ".join(failed)) if failed else delivery.Result(delivery.DELIVERED)


def is_channel(channel: str, env: Mapping[str, str]) -> bool:
    """Whether a channel goes through apprise (not an http(s) webhook), `${env:NAME}` resolved to tell."""
    try:
        return not is_webhook(secrets.resolve(channel, env, []))
    except secrets.MissingSecret:
        return not is_webhook(channel) and not secrets.REF.match(channel)


def url_parts(url: str) -> list[str]:
    """The pieces of a URL that may be secrets (user, password, path segments, query values), so that an
    answer quoting them is masked."""
    _, _, rest = url.partition("://")
    parts = [p for chunk in rest.replace("@", "/").replace(":", "/").replace("?", "/").split("/") for p in [chunk]]
    return [p.split("=")[-1] for p in parts if len(p.split("=")[-1]) >= 6]


class _Lines(logging.Handler):
    """apprise's log lines, each kept for the send that logged it: the one whose context is current when the
    line is logged (apprise's worker threads run a service in a copy of its caller's context)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
        self.sending = 0  # sends in flight

    def emit(self, record: logging.LogRecord) -> None:
        lines = _SEND_LINES.get()
        if lines is not None:
            lines.append(self.format(record))


_SEND_LINES: ContextVar[list[str] | None] = ContextVar("cronui_send_lines", default=None)
_LINES = _Lines()
_LINES_LOCK = threading.Lock()
_restore: tuple[int, bool] = (logging.NOTSET, True)  # the apprise logger's level and propagation before the sends


@contextmanager
def _captured() -> Iterator[list[str]]:
    """What apprise logs for this send while the block runs, not what a send in another thread logs at the
    same time (apprise's LogCapture keeps every thread's lines, and restores its level under the others).
    While sends are in flight apprise's lines stay with them: kept (masked) with each send and said by
    cronui's own log when one fails, never in the process's log as apprise wrote them (unmasked, unstructured)."""
    global _restore
    logger = logging.getLogger("apprise")
    with _LINES_LOCK:
        if _LINES.sending == 0:
            _restore = (logger.level, logger.propagate)
            logger.addHandler(_LINES)
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)
            logger.propagate = False
        _LINES.sending += 1
    lines: list[str] = []
    token = _SEND_LINES.set(lines)
    try:
        yield lines
    finally:
        _SEND_LINES.reset(token)
        with _LINES_LOCK:
            _LINES.sending -= 1
            if _LINES.sending == 0:
                logger.removeHandler(_LINES)
                logger.setLevel(_restore[0])
                logger.propagate = _restore[1]


def _apprise(url: str, title: str, text: str) -> tuple[bool, str]:
    """Send through apprise (in a thread: its plugins block) and return what it logged about it."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(url):
        return False, "not a channel URL apprise knows"
    with _captured() as lines:
        ok = bool(notifier.notify(body=text or title, title=title))
    answer = "\n".join(lines).strip()
    return ok, answer or ("sent" if ok else "not sent")
