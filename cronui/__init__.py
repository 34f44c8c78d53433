"""cronui: a scheduler for recurring work, with a terminal UI and a headless daemon."""

__version__ = "0.1.0"
