"""What every screen is handed when it is made: the road to the engine and the UI's view of the world.

Screens read the catalog and the runs in flight, ask the client for anything else, and post messages
(`messages.py`) for what the app does; they never reach into the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cronui.config import Settings
from cronui.ui.catalog import Catalog
from cronui.ui.client import EngineClient
from cronui.ui.inflight import InFlight
from cronui.ui.times import ZoneMode


@dataclass
class ScreenContext:
    client: EngineClient
    catalog: Catalog
    inflight: InFlight
    settings: Settings
    cursor_blink: bool
    run_command: Callable[[str], str | None]  # command mode: an error to show in place, or None when done
    zone_mode: ZoneMode = ZoneMode.JOB  # the app keeps it current
    view_zone: str | None = None  # chosen with `:zone NAME`, else the configured zone

    @property
    def local_zone(self) -> str:
        """The zone of "local" times."""
        return self.view_zone or self.settings.timezone

    def now_ms(self) -> int:
        return self.client.now_ms()
