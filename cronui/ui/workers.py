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
