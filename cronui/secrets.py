"""`${env:NAME}` references: stored as written, resolved only at run time, masked wherever shown."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "••••••••"


class MissingSecret(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set (referenced as ${{env:{name}}})")
        self.name = name


def references(text: str) -> list[str]:
    return REF.findall(text)


def missing(texts: Iterable[str], env: Mapping[str, str]) -> list[str]:
    """Names referenced in `texts` that `env` does not define, in order, once each."""
    out: list[str] = []
    for text in texts:
        for name in references(text):
            if name not in env and name not in out:
                out.append(name)
    return out


def resolve(text: str, env: Mapping[str, str], found: list[str] | None = None) -> str:
    """Replace every reference by its value; collect the values in `found` so they can be masked."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise MissingSecret(name)
        value = env[name]
        if found is not None and value:
            found.append(value)
        return value

    return REF.sub(sub, text)


def mask(text: str, secrets: Iterable[str]) -> str:
    """Hide resolved secret values that leaked into output or errors."""
    for value in maskable(secrets):
        text = text.replace(value, MASK)
    return text


def maskable(secrets: Iterable[str]) -> list[str]:
    """The values worth masking (at least 4 characters: shorter ones would mangle ordinary text), longest first."""
    return sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)


def mask_data(value: Any, secrets: Iterable[str]) -> Any:
    """`mask` applied to every string in a JSON-like value (dicts, lists, tuples; keys too)."""
    values = maskable(secrets)
    if not values:
        return value
    return _mask_data(value, values)


def _mask_data(value: Any, values: list[str]) -> Any:
    if isinstance(value, str):
        for v in values:
            value = value.replace(v, MASK)
        return value
    if isinstance(value, dict):
        return {_mask_data(k, values): _mask_data(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_data(v, values) for v in value]
    return value


def _borders(v: str) -> list[int]:
    """KMP's failure table: `b[i]` is the length of the longest proper prefix of `v[: i + 1]` that is also
    its suffix."""
    b = [0] * len(v)
    k = 0
    for i in range(1, len(v)):
        while k and v[i] != v[k]:
            k = b[k - 1]
        if v[i] == v[k]:
            k += 1
        b[i] = k
    return b


def overlaps(text: str, v: str, borders: list[int]) -> Iterator[int]:
    """Each k (longest first, 0 < k < len(v)) for which `text` ends with `v[:k]`: where `v` may begin in
    `text` and go on after it. Linear in len(v) (KMP), however `text` and `v` repeat themselves."""
    start = text.find(v[0], max(0, len(text) - len(v) + 1))
    if start < 0:
        return
    k = len(text) - start
    if not v.startswith(text[start:]):  # the earliest candidate is not one: scan the rest with KMP
        k = 0
        for ch in text[start:]:
            while k and ch != v[k]:
                k = borders[k - 1]
            if ch == v[k]:
                k += 1
            if k == len(v):
                k = borders[k - 1]
    while k:
        yield k
        k = borders[k - 1]


class StreamMasker:
    """Masks a stream of text handed over in pieces, so a value split across two pieces is masked too.

    `feed` returns what can be shown now and holds back only the end of the text that could be the
    start of a value (usually nothing); `end` returns what is held back, masked. Each piece costs time
    linear in its length plus the values' lengths, whatever the text and the values repeat."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.values = maskable(secrets)
        self.longest = len(self.values[0]) if self.values else 0
        self.pattern = re.compile("|".join(re.escape(v) for v in self.values)) if self.values else None
        self.borders = [_borders(v) for v in self.values]
        self.held = ""

    def feed(self, text: str) -> str:
        if self.pattern is None:
            return text
        buf = self.held + text
        window = max(0, len(buf) - 2 * self.longest)
        starts, ends = [], []
        for m in self.pattern.finditer(buf, window):
            starts.append(m.start())
            ends.append(m.end())
        cut = len(buf)
        for v, borders in zip(self.values, self.borders, strict=True):
            for k in overlaps(buf, v, borders):
                i = len(buf) - k
                if i >= cut:
                    break
                j = bisect.bisect_left(starts, i) - 1  # the last match starting before i
                if j < 0 or ends[j] <= i:  # never cut inside a value found whole: it is masked now
                    cut = i  # the earliest start of a value that may go on in the next piece
                    break
        self.held = buf[cut:]
        return self.pattern.sub(MASK, buf[:cut])

    def end(self) -> str:
        held, self.held = self.held, ""
        return held if self.pattern is None else self.pattern.sub(MASK, held)


def cut_value_ends(head: str, tail: str, values: list[str], least: int = 4) -> tuple[str, str]:
    """`head` and `tail` of a text whose middle was left out: a value the cut went through (its first
    part, at least `least` characters, ends `head`; its last part begins `tail`) masked too. Linear in
    the values' lengths."""
    for v in values:
        k = next(overlaps(head, v, _borders(v)), 0)
        if k >= least:
            head = head[:-k] + MASK
        r = v[::-1]
        k = next(overlaps(tail[: len(v)][::-1], r, _borders(r)), 0)
        if k >= least:
            tail = MASK + tail[k:]
    return head, tail
