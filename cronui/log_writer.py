"""The daemon's event log, written by a thread so that stdout never holds the event loop.

A paused terminal or a stalled pipe blocks a write to stdout; done on the loop, that would freeze the
scheduler, its timeouts and its signal handlers. Lines go through a bounded queue to a writer thread
instead: when the queue is full a line is dropped and counted, and the next line that fits is preceded
by one saying how many were dropped. A run's output is cut to OUTPUT_TEXT_CAP characters per line, the
line saying how much was cut (the run's output itself is kept whole in the database).

The standard library's QueueHandler/QueueListener would carry the lines to a thread, but their queue
put raises (and reports through handleError) when the queue is full, and QueueListener.stop() joins the
thread without a limit, which a blocked stdout would turn into a hang at exit: hence this small writer.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable
from typing import TextIO

from cronui.model import EventKind, RunEvent

OUTPUT_TEXT_CAP = 4096  # characters of a run's output shown on one log line
QUEUE_LINES = 10_000  # lines waiting for the writer before new ones are dropped
CLOSE_WAIT_S = 2.0  # how long closing waits for the writer to catch up


def cut_output(ev: RunEvent) -> RunEvent:
    """An output event whose text is over OUTPUT_TEXT_CAP characters, cut, saying how much was cut."""
    text = ev.data.get("text") if ev.kind is EventKind.OUTPUT else None
    if not isinstance(text, str) or len(text) <= OUTPUT_TEXT_CAP:
        return ev
    cut = len(text) - OUTPUT_TEXT_CAP
    shown = f"{text[:OUTPUT_TEXT_CAP]}… ({cut:,} more characters not shown in the log)"
    return dataclasses.replace(ev, data={**ev.data, "text": shown})


class LogWriter:
    """Lines to `out` from a thread; `write` never blocks."""

    def __init__(self, out: TextIO, notice: Callable[[int], str], max_lines: int = QUEUE_LINES) -> None:
        self.out = out
        self.notice = notice  # the line saying that N lines were dropped
        self.lines: queue.Queue[str | None] = queue.Queue(max_lines)
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name="cronui-log", daemon=True)
        self.thread.start()

    def write(self, line: str) -> None:
        if self.dropped and not self._tell_dropped():
            self.dropped += 1
            return
        try:
            self.lines.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def _tell_dropped(self) -> bool:
        try:
            self.lines.put_nowait(self.notice(self.dropped))
        except queue.Full:
            return False
        self.dropped = 0
        return True

    def close(self) -> None:
        """Write what is queued, waiting at most CLOSE_WAIT_S for a blocked output (blocking: call it in a
        thread)."""
        if self.dropped:
            self._tell_dropped()
        try:
            self.lines.put(None, timeout=CLOSE_WAIT_S)
        except queue.Full:
            return
        self.thread.join(CLOSE_WAIT_S)

    def _run(self) -> None:
        while (line := self.lines.get()) is not None:
            try:
                self.out.write(line + "\n")
                self.out.flush()
            except (OSError, ValueError):  # the reader went away (a closed pipe): nothing left to tell
                return
