"""Masking stays correct when the text and the secrets repeat themselves — the case where a naive check
of "could a secret begin here and go on in the next piece" costs the square of the secret's length
(tests/benchmarks/bench_masking.py measures it)."""

from __future__ import annotations

import random

from hypothesis import example, given
from hypothesis import strategies as st

from cronui import secrets
from cronui.engine.executors.base import CappedBuffer

repetitive = st.text(alphabet="ab", min_size=4, max_size=24)


def naive_overlaps(text: str, v: str) -> list[int]:
    return [k for k in range(len(v) - 1, 0, -1) if text.endswith(v[:k])]


@given(st.text(alphabet="ab", max_size=40), repetitive)
@example("aaaaaaa", "aaaab")
@example("abababa", "ababab")
def test_overlaps_are_every_proper_prefix_the_text_ends_with(text: str, value: str):
    found = list(secrets.overlaps(text, value, secrets._borders(value)))
    assert found == naive_overlaps(text, value)


@given(st.lists(repetitive, min_size=1, max_size=3), st.text(alphabet="ab", max_size=80), st.randoms())
@example(["aaaab"], "aaaaaaaaaaab", random.Random(0))
@example(["abab", "ababab"], "abababababab", random.Random(1))
def test_repetitive_text_masked_in_pieces_is_masked_as_a_whole(values: list[str], text: str, rnd: random.Random):
    cuts = sorted(rnd.sample(range(len(text) + 1), min(len(text) + 1, rnd.randint(0, 8))))
    masker = secrets.StreamMasker(values)
    shown, prev = "", 0
    for cut in [*cuts, len(text)]:
        shown += masker.feed(text[prev:cut])
        prev = cut
    shown += masker.end()
    assert shown == secrets.mask(text, values)


def test_a_long_secret_in_a_flood_of_its_first_character_is_still_masked():
    secret = "a" * 2048 + "Z" * 2048
    masker = secrets.StreamMasker([secret])
    shown = "".join(masker.feed("a" * 65536) for _ in range(4)) + masker.feed(secret[2048:] + "!") + masker.end()
    assert shown.endswith(secrets.MASK + "!") and "Z" not in shown
    assert len(shown) == 4 * 65536 - 2048 + len(secrets.MASK) + 1


@given(st.text(alphabet="ab", min_size=4, max_size=10), st.integers(0, 40), st.integers(0, 40))
def test_a_capped_buffer_masks_a_repetitive_secret_the_cut_goes_through(value: str, before: int, after: int):
    buf = CappedBuffer(64, [value])
    buf.write(b"x" * before + value.encode() + b"y" * 200 + value.encode() + b"z" * after)
    head, _, tail = buf.text().partition(" bytes omitted] …\n")
    head = head.rsplit("\n… [", 1)[0]
    for n in range(4, len(value)):
        assert not head.endswith(value[:n]) and not tail.startswith(value[-n:])
