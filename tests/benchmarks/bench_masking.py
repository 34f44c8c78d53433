"""Masking's cost by a secret's length, on output full of the secret's first half: one 64 KiB piece
through `StreamMasker.feed` (live output) and `CappedBuffer.text` on 1 MiB kept as 256 KiB (the run's
output). Before masking was linear these grew with the square of the secret's length.

    python tests/benchmarks/bench_masking.py
"""

from __future__ import annotations

import time

from cronui import secrets
from cronui.engine.executors.base import CappedBuffer


def main() -> None:
    for n in (4096, 16384, 65536):
        secret = "a" * (n // 2) + "Z" * (n // 2)
        masker = secrets.StreamMasker([secret])
        piece = "a" * 65536
        masker.feed(piece)
        t = time.perf_counter()
        for _ in range(5):
            masker.feed(piece)
        feed_ms = (time.perf_counter() - t) / 5 * 1000
        buf = CappedBuffer(256 * 1024, [secret])
        buf.write(b"a" * (1024 * 1024))
        t = time.perf_counter()
        buf.text()
        text_ms = (time.perf_counter() - t) * 1000
        print(
            f"secret {n // 1024:>2} KiB: feed {feed_ms:6.1f} ms per 64 KiB piece; CappedBuffer.text {text_ms:6.1f} ms"
        )


if __name__ == "__main__":
    main()
