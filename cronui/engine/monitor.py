"""The scheduler's own dead-man's switch: `[monitor] ping_url` is requested (GET) by the process holding the
scheduler each time it takes or renews its lease, so a monitor outside (Healthchecks.io, Uptime Kuma, another
cronui's `/ping/NAME`) notices when no cronui schedules.

The ping never holds the loop: it runs as a task with its own deadline, one at a time (a renewal that finds
the last ping still in flight skips this one), and a failure is logged, never raised. The URL (and
`ping_token`, sent as a bearer token) may be written with `${env:NAME}`; a log line names only the URL's
origin, since a monitor's URL is often its secret.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping

import httpx

from cronui import secrets
from cronui.engine.infra import endpoint_of

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 5.0  # a whole ping, connect to answer: well within a lease renewal interval


class DeadMansSwitch:
    """Pings `url` at each renewal of the scheduler lease (see the module's doc)."""

    def __init__(
        self,
        url: str | None,
        http: Callable[[], httpx.AsyncClient],
        timeout_s: float = PING_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        self.url = url
        self.token = token  # sent as a bearer token (another cronui's `/ping/NAME` wants the job's)
        self.http = http  # the dispatcher's shared client
        self.timeout_s = timeout_s
        self.env = os.environ if env is None else env
        self.sent = 0  # pings that got a 2xx or 3xx answer
        self.failed = 0  # pings that did not (refused, timed out, an error status)
        self.skipped = 0  # renewals that found the last ping still in flight
        self._task: asyncio.Task[None] | None = None

    def ping(self) -> None:
        """Start a ping, unless none is configured or the last one is still in flight."""
        if not self.url:
            return
        if self._task is not None and not self._task.done():
            self.skipped += 1
            return
        self._task = asyncio.create_task(self._ping(self.url), name="cronui-monitor-ping")

    async def _ping(self, url: str) -> None:
        found: list[str] = []
        where = "the monitor"
        try:
            target = secrets.resolve(url, self.env, found)
            where = secrets.mask(endpoint_of(target), found)  # the origin only: a monitor's URL is its secret
            headers = {"Authorization": f"Bearer {secrets.resolve(self.token, self.env, found)}"} if self.token else {}
            async with asyncio.timeout(self.timeout_s):
                resp = await self.http().get(target, headers=headers, timeout=httpx.Timeout(self.timeout_s))
        except secrets.MissingSecret as e:
            self.failed += 1
            log.warning("monitor ping not sent: %s", e)
            return
        except (httpx.HTTPError, TimeoutError, OSError) as e:
            self.failed += 1
            reason = "no answer in time" if isinstance(e, TimeoutError) else type(e).__name__
            log.warning("monitor ping to %s failed: %s", where, reason)
            return
        except Exception:
            self.failed += 1
            log.exception("monitor ping to %s failed unexpectedly", where)
            return
        if resp.status_code >= 400:
            self.failed += 1
            log.warning("monitor ping to %s answered HTTP %s", where, resp.status_code)
            return
        self.sent += 1

    async def wait(self) -> None:
        """Until the ping in flight (if any) has ended (tests)."""
        if self._task is not None:
            await asyncio.wait([self._task])

    async def close(self) -> None:
        """Stop a ping still in flight (the scheduler is stopping)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])
        self._task = None
