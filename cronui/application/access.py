"""Who may use the API: the API token (`[api] token` or CRONUI_API_TOKEN), the listen address it guards,
and each job's own trigger token for `POST /hooks/NAME`, stored only as a hash in the store's state."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping

from cronui.config import ConfigError, Settings
from cronui.model import Job
from cronui.secrets import MissingSecret, resolve
from cronui.store import Store

DEFAULT_LISTEN = "127.0.0.1:8377"
HOOK_TOKEN_KEY = "hook-token:{job_id}"  # the sha256 of a job's trigger token, keyed by the job's id


class ListenError(ValueError):
    """A --listen value cronui cannot use; the message says why."""


def api_token(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """The API's bearer token, with `${env:NAME}` references resolved; None when none is set."""
    raw = settings.api.token
    if raw is None:
        return None
    try:
        token = resolve(raw, os.environ if env is None else env)
    except MissingSecret as e:
        raise ConfigError(f"api.token: {e}") from None
    if not token.strip():
        raise ConfigError("api.token: resolves to an empty value")
    return token


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets) -> (host, port)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ListenError(f"--listen: expected HOST:PORT (e.g. {DEFAULT_LISTEN}), got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ListenError(f"--listen: the port must be a number from 0 to 65535, got {port_text!r}")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any address


def same_token(given: str, expected: str) -> bool:
    """A constant-time comparison, so response times tell nothing about the expected token."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_hook_token(store: Store, job: Job, *, rotate: bool) -> str | None:
    """A new trigger token for `job` (its hash replaces any earlier one); None when the job has one
    already and `rotate` is not set (only its hash is kept, so it cannot be shown again)."""
    key = HOOK_TOKEN_KEY.format(job_id=job.id)
    if not rotate and await store.get_state(key) is not None:
        return None
    token = secrets.token_urlsafe(32)
    await store.set_state(key, _digest(token))
    return token


async def hook_token_matches(store: Store, job: Job, given: str) -> bool:
    """Whether `given` is `job`'s current trigger token."""
    stored = await store.get_state(HOOK_TOKEN_KEY.format(job_id=job.id))
    return stored is not None and hmac.compare_digest(_digest(given), stored)
