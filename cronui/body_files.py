"""An HTTP job's `@FILE` body: a regular file no larger than the body cap.

A device (`@/dev/zero`) or a FIFO would be read without end, or block the engine's loop while it waits
for a writer; a huge file would be held in memory whole. Such a file is refused when the job is saved
and again when it runs (the file may have changed since).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cronui.job_texts import CAPS

BODY_CAP = CAPS["body"]
CAP_SHOWN = f"{BODY_CAP // (1024 * 1024)} MiB"
SNIFF_CAP = 64 * 1024  # only a body this small is parsed to guess whether it is JSON


def problem(path: Path) -> str | None:
    """Why `path` cannot be a request body, or None when it can."""
    try:
        st = os.stat(path)
    except OSError as e:
        return f"no file {path}" if isinstance(e, FileNotFoundError) else f"{path}: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file (a device, FIFO or directory cannot be a request body)"
    if st.st_size > BODY_CAP:
        return f"{path} is {st.st_size:,} bytes long; a request body is at most {CAP_SHOWN}"
    return None


def read(path: Path) -> bytes:
    """The file's bytes, checked first; raises ValueError with the problem. Blocking: run it in a thread."""
    found = problem(path)
    if found:
        raise ValueError(found)
    with open(path, "rb") as f:
        data = f.read(BODY_CAP + 1)  # it may have grown since the check
    if len(data) > BODY_CAP:
        raise ValueError(f"{path} grew past {CAP_SHOWN} while being read; a request body is at most {CAP_SHOWN}")
    return data
