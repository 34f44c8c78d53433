"""A Static whose text can use the theme's run-status colours (see `StatusStyles`)."""

from __future__ import annotations

from typing import ClassVar

from textual.widgets import Static

from cronui.ui.widgets.status import StatusStyles, status_css


class StyledStatic(StatusStyles, Static):
    """A Static that can colour run statuses from the theme."""

    DEFAULT_CSS = status_css("StyledStatic")
    COMPONENT_CLASSES: ClassVar[set[str]] = set(StatusStyles.COMPONENT_CLASSES)
