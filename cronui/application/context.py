"""What a use case works with: the settings, the store, the engine's `Control` (which writes and wakes the
scheduler) and the clock. Each face builds one `Cronui` for its store and passes it to the use cases."""

from __future__ import annotations

from dataclasses import dataclass, field

from cronui.config import Settings
from cronui.engine.clock import Clock, SystemClock
from cronui.engine.control import Control
from cronui.store import Store


@dataclass
class Cronui:
    """One store's use cases' common ground: faces hold one and hand it to `cronui.application.*`."""

    settings: Settings
    store: Store
    control: Control
    clock: Clock = field(default_factory=SystemClock)

    def now_ms(self) -> int:
        return self.clock.now_ms()
