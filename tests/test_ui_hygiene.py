"""The engine, the store, the daemon and the schedule code must not load Textual or Rich: the headless
daemon stays lean, and the UI can only reach the engine through its public facade."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "cronui.engine",
    "cronui.engine.clock",
    "cronui.engine.control",
    "cronui.engine.dispatcher",
    "cronui.engine.engine",
    "cronui.engine.events",
    "cronui.engine.scheduler",
    "cronui.engine.executors.base",
    "cronui.engine.executors.shell",
    "cronui.store",
    "cronui.store.base",
    "cronui.store.sqlite",
    "cronui.daemon",
    "cronui.schedule",
    "cronui.jobs",
    "cronui.model",
    "cronui.present",
    "cronui.config",
]


def test_core_modules_do_not_import_textual_or_rich() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "from cronui.engine.dispatcher import default_executors\n"
        "default_executors()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"loaded by the core: {res.stdout.strip()}"


def test_the_ui_does_load_textual() -> None:
    """The check above would pass vacuously if the probe could not see Textual at all."""
    code = "import sys, cronui.ui.app; print('textual' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "True", res.stderr
