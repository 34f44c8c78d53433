"""What a use case works with: the settings, the store, the engine's `Control` (which writes and wakes the
scheduler) and the clock. Each face builds one `Cronui` for its store and passes it to the use cases."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cronui.application.caller import Caller, local
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
    caller: Caller = field(default_factory=local)  # who asks (owner, audit, scope, policy): the CLI's user by default

    def as_caller(self, caller: Caller) -> Cronui:
        """The same ground for another caller (the API and MCP build one per request from its token)."""
        return replace(self, caller=caller)

    def now_ms(self) -> int:
        return self.clock.now_ms()
