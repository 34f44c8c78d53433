"""The engine, the store, the daemon and the schedule code must not load Textual or Rich: the headless
daemon stays lean, and the UI can only reach the engine through its public facade."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cronui


def core_modules() -> list[str]:
    """Every module of the package outside `cronui.ui`, found on disk, so a new module is checked the
    day it is written."""
    root = Path(cronui.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1 and parts[1] in ("ui", "themes", "__main__"):
            continue
        names.append(".".join(parts))
    return names


CORE = core_modules()


def test_the_module_list_is_found_not_kept_by_hand() -> None:
    assert {"cronui.engine.dispatcher", "cronui.store.sqlite", "cronui.daemon", "cronui.model"} <= set(CORE)
    assert not any(name.startswith("cronui.ui") for name in CORE)


def test_core_modules_do_not_import_textual_or_rich() -> None:
    code = (
        "import importlib, sys\n"
        # click comes only with the test tools (schemathesis): where it is installed, `import httpx` loads rich
        # for httpx's own command line. cronui's runtime dependencies never bring it (tests/api/test_packaging.py).
        "sys.modules['click'] = None\n"
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
