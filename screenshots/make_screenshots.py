"""Render the README's screenshots from the real app on fixed demo data (see cronui/ui/screenshots.py).

python screenshots/make_screenshots.py            # writes screenshots/main.svg, job-editor.svg, run-detail.svg
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cronui.ui.screenshots import main

if __name__ == "__main__":
    raise SystemExit(main(["--out", str(Path(__file__).resolve().parent), *sys.argv[1:]]))
