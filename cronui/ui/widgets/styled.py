"""A Static whose text can use the theme's run-status colours (as `StatusStyles` does for tables)."""

from __future__ import annotations

from typing import ClassVar

from textual.widgets import Static

from cronui.ui.widgets.table import StatusStyles


class StyledStatic(StatusStyles, Static):
    """A Static that can colour run statuses from the theme."""

    DEFAULT_CSS = """
    StyledStatic {
        & > .status--succeeded { color: $run-succeeded; }
        & > .status--failed { color: $run-failed; }
        & > .status--running { color: $run-running; }
        & > .status--skipped { color: $run-skipped; }
        & > .status--dim { color: $text-muted; }
        & > .status--warning { color: $warning; }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = set(StatusStyles.COMPONENT_CLASSES)
