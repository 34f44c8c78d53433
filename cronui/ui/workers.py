"""Starting background work from the app or a screen, typed, and in one way.

Work runs as a Textual worker that does not take the app down when it fails: the app turns the failure
into a toast (`CronuiApp.on_worker_state_changed`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from textual.dom import DOMNode
from textual.worker import Worker

T = TypeVar("T")


def spawn(
    node: DOMNode,
    work: Callable[[], Coroutine[Any, Any, T]],
    group: str,
    *,
    name: str = "",
    exclusive: bool = False,
) -> Worker[T]:
    """Run `work` (an async function) in a worker owned by `node`, named after it unless `name` says otherwise."""
    worker: Worker[T] = node.run_worker(work, name=name, group=group, exclusive=exclusive, exit_on_error=False)
    return worker


class OneAtATime:
    """Work that runs one pass at a time in a worker owned by `node`: asked for while a pass runs, it runs
    one more pass after it (however often it was asked meanwhile). A pass may look at `wanted` to drop
    what it read once it is out of date, and call `drop` to end without the pass that was asked for."""

    def __init__(self, node: DOMNode, work: Callable[[], Coroutine[Any, Any, None]], group: str) -> None:
        self._node = node
        self._work = work
        self._group = group
        self.busy = False  # a pass runs, or is about to
        self.wanted = False  # asked for since the pass now running began

    def want(self) -> None:
        self.wanted = True
        if not self.busy:
            self.busy = True
            spawn(self._node, self._passes, self._group)

    def drop(self) -> None:
        """No further pass for what was asked meanwhile (what the work shows is gone)."""
        self.wanted = False

    async def _passes(self) -> None:
        try:
            while self.wanted:
                self.wanted = False
                await self._work()
        finally:
            self.busy = False
